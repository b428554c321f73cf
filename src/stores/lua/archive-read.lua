--[[
  What the archiver copies next from one room, read at one instant: the messages after the
  last one PostgreSQL holds (at most `batch`), and edits PostgreSQL does not hold the newest
  version of (at most `batch`), each with its current record. Returns {aid, b, n, a,
  entries, edits, newest}: the counts' archive cursor, counting boundary, newest and archived
  sequence numbers; entries as XRANGE answers them; edits flattened as padded id, score,
  record ("" if the record is gone); and the room's newest id ("<ms>-<n>" from the counts,
  "" if it has none): once the stream is read to its end, the cursor moves there, past
  messages that were edited or deleted (their stream entry replaced) before they were read.

  KEYS[1] stream_key  the room's stream
  KEYS[2] edits_key  the room's edits (zset)
  KEYS[3] pending_key  the room's edits not yet archived (zset)
  KEYS[4] counts_key  the room's counts (hash)
  ARGV[1] batch  at most this many messages, and as many edits
]]
local stream_key = KEYS[1]
local edits_key = KEYS[2]
local pending_key = KEYS[3]
local counts_key = KEYS[4]
local batch = ARGV[1]
local c = redis.call('HMGET', counts_key, 'aid', 'b', 'n', 'a', 'ms')
local from = '-'
if c[1] then from = '(' .. c[1] end
local entries = redis.call('XRANGE', stream_key, from, '+', 'COUNT', batch)
local pending = redis.call('ZRANGE', pending_key, 0, tonumber(batch) - 1, 'WITHSCORES')
local edits = {}
for i = 1, #pending, 2 do
  local p = pending[i]
  local rec = redis.call('ZRANGE', edits_key, '[' .. p .. '|', '(' .. p .. '}', 'BYLEX', 'LIMIT', 0, 1)
  edits[#edits + 1] = p
  edits[#edits + 1] = pending[i + 1]
  edits[#edits + 1] = rec[1] or ''
end
local newest = ''
if c[3] and c[5] then newest = c[5] .. '-' .. c[3] end
return {c[1] or '', c[2] or '', c[3] or '0', c[4] or '0', entries, edits, newest}
