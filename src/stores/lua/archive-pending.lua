--[[
  For messages read from PostgreSQL: which of them Redis holds a newer version of, read at
  one instant (the archiver clears a mark and drops its record in one script, so a mark and
  its record are never seen apart). Returns, per id: "" when it is not marked; else "1" and
  its record ("" when it has none: taken back, never stored).

  KEYS[1] pending_key  the room's edits not yet archived (zset)
  KEYS[2] edits_key  the room's edits (zset)
  ARGV[1...] padded_ids  the messages' padded ids
]]
local pending_key = KEYS[1]
local edits_key = KEYS[2]
local padded_ids = { unpack(ARGV, 1) }
local out = {}
for _, p in ipairs(padded_ids) do
  if redis.call('ZSCORE', pending_key, p) then
    local rec = redis.call('ZRANGE', edits_key, '[' .. p .. '|', '(' .. p .. '}', 'BYLEX', 'LIMIT', 0, 1)
    out[#out + 1] = '1'
    out[#out + 1] = rec[1] or ''
  else
    out[#out + 1] = ''
    out[#out + 1] = ''
  end
end
return out
