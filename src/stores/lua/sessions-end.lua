--[[
  The notes come first, in the same step: no save can revive a record after this.

  KEYS[1...] sessions  pairs of (ended-note, record), one pair per session
  ARGV[1] reason  why they ended
  ARGV[2] note_seconds  how long the notes are kept (s)
  ARGV[3] destroy  "1" to delete the records
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local sessions = { unpack(KEYS, 1) }
local reason = ARGV[1]
local note_seconds = ARGV[2]
local destroy = ARGV[3]
for i = 1, #sessions, 2 do
  redis.call('SET', sessions[i], reason, 'EX', note_seconds)
  if destroy == '1' then redis.call('DEL', sessions[i + 1]) end
end
return 1
