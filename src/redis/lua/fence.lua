--[[
  The fence of a fenced write (src/redis/fence.ts). fencedEval puts the write's deadline, in
  Redis's clock, after the script's own arguments: it is taken off here, so the script sees
  ARGV as its caller passed it. Past the deadline parley has already given up on the write
  (and may have reported it failed), so the write is refused before it acts.
  Include it first, before the script binds its names. Defines now_ms (the clock include).
]]
local fence_deadline = tonumber(table.remove(ARGV))
--- @include "clock"
if now_ms > fence_deadline then
  return redis.error_reply('LATE write refused: parley had already given up on it')
end
