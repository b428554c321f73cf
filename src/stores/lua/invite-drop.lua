--[[
  Deletes an invite.

  KEYS[1] invite_key  the invite (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local invite_key = KEYS[1]
return redis.call('DEL', invite_key)
