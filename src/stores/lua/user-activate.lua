--[[
  1 done; 0 too late (the registration was abandoned).

  KEYS[1] user_key  the user's record (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local user_key = KEYS[1]
local untilMs = tonumber(redis.call('HGET', user_key, 'pendingUntil') or '0') or 0
if redis.call('HGET', user_key, 'pending') ~= '1' or now_ms > untilMs then return 0 end
redis.call('HDEL', user_key, 'pending', 'pendingUntil')
return 1
