--[[
  1 withdrawn; 0 unknown (used or expired); -1 a
  registration holds it now (it may succeed; if refused, it gives the invite back).

  KEYS[1] invite_key  the invite (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local invite_key = KEYS[1]
if redis.call('HEXISTS', invite_key, 'taken') == 1 then return -1 end
return redis.call('DEL', invite_key)
