--[[
  The message is taken from the stream (or from the edits, if edited before), checked (only
  its author edits; its author or a moderator deletes), and replaced: the stream entry is
  deleted, so the original text is not kept, and the edits hold the new version (or a
  tombstone), and the pending set marks it for the archiver (scored by the room's edit
  counter). An edit keeps the message's attachments (`f`, their JSON); a deletion drops them
  and returns them as a third element, for their files to be deleted. Returns {"ok", JSON
  record[, attachments]} or {"not_found"} / {"forbidden"}, or {"full"} when
  `backlog` edits wait for PostgreSQL already. (XDEL only marks
  a stream entry deleted: Redis frees its bytes when the stream's node empties or is
  trimmed, so the old text can linger in memory, and in snapshots or an append-only file
  written before then, though parley never serves it again. See the README.)

  KEYS[1] stream_key  the room's stream
  KEYS[2] edits_key  the room's edits (zset)
  KEYS[3] pending_key  the room's edits not yet archived (zset)
  KEYS[4] counts_key  the room's counts (hash)
  ARGV[1] message_id  the message
  ARGV[2] padded_id  its padded id
  ARGV[3] actor_id  who edits or deletes
  ARGV[4] action  "edit" or "delete"
  ARGV[5] new_text  the new text
  ARGV[6] now  now (ms)
  ARGV[7] may_delete_others  "1" if the actor may delete others' messages
  ARGV[8] backlog  the edits not yet archived a room may hold
  ARGV[9] archived  the message as PostgreSQL holds it (JSON record), for one older than the window; "" if none
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local stream_key = KEYS[1]
local edits_key = KEYS[2]
local pending_key = KEYS[3]
local counts_key = KEYS[4]
local message_id = ARGV[1]
local padded_id = ARGV[2]
local actor_id = ARGV[3]
local action = ARGV[4]
local new_text = ARGV[5]
local now = ARGV[6]
local may_delete_others = ARGV[7]
local backlog = ARGV[8]
local archived = ARGV[9]
if redis.call('ZCARD', pending_key) >= tonumber(backlog) then return {'full'} end
local dropped_files = ''
local rec
local found = redis.call('XRANGE', stream_key, message_id, message_id)
if #found > 0 then
  local f = found[1][2]
  local m = {}
  for i = 1, #f, 2 do m[f[i]] = f[i + 1] end
  rec = { u = m.u, n = m.n, t = m.t, ts = tonumber(m.ts), f = m.f }
else
  local prior = redis.call('ZRANGE', edits_key, '[' .. padded_id .. '|', '(' .. padded_id .. '}', 'BYLEX', 'LIMIT', 0, 1)
  if #prior > 0 then
    rec = cjson.decode(string.sub(prior[1], #padded_id + 2))
  elseif archived ~= '' then
    -- Redis keeps no version of it (trimmed behind the archive): PostgreSQL's is the newest.
    rec = cjson.decode(archived)
  else
    return {'not_found'}
  end
  if rec.deleted then return {'not_found'} end
end
if action == 'edit' then
  if rec.u ~= actor_id then return {'forbidden'} end
  rec.t = new_text
  rec.edited = tonumber(now)
else
  if rec.u ~= actor_id and may_delete_others ~= '1' then return {'forbidden'} end
  dropped_files = rec.f or ''
  -- The tombstone keeps which files it dropped (`fd`, never shown): the archiver marks them
  -- deleted in PostgreSQL even if their message was never archived with them.
  rec = { u = rec.u, n = rec.n, t = '', ts = rec.ts, deleted = true, fd = rec.f }
end
redis.call('XDEL', stream_key, message_id)
redis.call('ZREMRANGEBYLEX', edits_key, '[' .. padded_id .. '|', '(' .. padded_id .. '}')
local json = cjson.encode(rec)
redis.call('ZADD', edits_key, 0, padded_id .. '|' .. json)
-- Trimmed by the archiver once PostgreSQL holds it and it is older than the window. The
-- room's edit counter orders versions (PostgreSQL keeps the highest): never a clock.
redis.call('ZADD', pending_key, redis.call('HINCRBY', counts_key, 'ev', 1), padded_id)
return {'ok', json, dropped_files}
