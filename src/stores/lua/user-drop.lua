--[[
  Only a record still pending: never a real account.

  KEYS[1] user_key  the user's record (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local user_key = KEYS[1]
if redis.call('HGET', user_key, 'pending') ~= '1' then return 0 end
return redis.call('DEL', user_key)
