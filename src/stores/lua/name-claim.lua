--[[
  Claims a name for an account, if nobody holds it.

  KEYS[1] name_key  the name's key
  ARGV[1] id  the account
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local name_key = KEYS[1]
local id = ARGV[1]
if redis.call('SET', name_key, id, 'NX') == false then return 0 end
return 1
