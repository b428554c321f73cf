--[[
  Deletes a session record (a logout, an expired login).

  KEYS[1] record_key  the session record
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local record_key = KEYS[1]
return redis.call('DEL', record_key)
