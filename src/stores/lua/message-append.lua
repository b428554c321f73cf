--[[
  Appends a message to a room. Fenced: a message refused as `unavailable` is never stored when a stalled Redis resumes.
  
  The message's id is "<ms>-<n>": `n` counts the room's messages (so an unread count is a
  subtraction, never a read of messages) and `ms` is Redis's clock, never earlier than the
  id before it. A room with messages stored before counting began starts counting at its
  first message since, after the last of the old ones (whose ids count as 0).
  
  With a client id, the key remembers the message (id, time, a hash of its text, and whether
  it is confirmed): a send seen before answers {"dup", id, ts} when it carries the same text,
  is confirmed and is still stored as sent; {"revised", id, record} when it was edited or
  deleted since (its current version, from the edits: KEYS[3]); {"gone", id, ts} when the
  stream no longer holds it (trimmed); {"pending"} while its replicas have not confirmed it
  yet; {"conflict"} when the client id came with other text; {"full"} when the room holds
  `backlog` messages PostgreSQL does not hold yet (nothing is stored: the sender is told the
  room is unavailable until the archiver catches up, and no message is ever dropped).

  Attachments: each upload key must hold an upload of this sender's into this room (the keys
  are in the room's slot, so only uploads to this room can be named at all); they are taken
  (deleted) with the send, so a file is attached once. One that is missing (never uploaded,
  expired, or attached already) refuses the whole send: {"nofile", index} and nothing is
  stored. A client id's hash covers the text and the attachments' ids.
  Nothing is trimmed here: the archiver trims the stream behind what PostgreSQL holds.

  KEYS[1] stream_key  the room's stream
  KEYS[2] client_id_key  the sender's client-id key (the stream again when the send has no client id)
  KEYS[3] edits_key  the room's edits (zset)
  KEYS[4] counts_key  the room's counts (hash: n, ms, o:<user>, b)
  KEYS[5...] upload_keys  the uploads it carries (none or up to 10)
  ARGV[1] backlog  the messages not yet archived a room may hold
  ARGV[2] user_id  the sender
  ARGV[3] username  their name
  ARGV[4] text  the text
  ARGV[5] sent_at  the time shown (ms)
  ARGV[6] has_client_id  "1" with a client id
  ARGV[7] needs_replicas  "1" when replicas must confirm it first
  ARGV[8] dedupe_seconds  how long a client id is remembered (s)
  ARGV[9] file_ids  the attachments' ids, comma-separated, in order ("" for none)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local stream_key = KEYS[1]
local client_id_key = KEYS[2]
local edits_key = KEYS[3]
local counts_key = KEYS[4]
local upload_keys = { unpack(KEYS, 5) }
local backlog = ARGV[1]
local user_id = ARGV[2]
local username = ARGV[3]
local text = ARGV[4]
local sent_at = ARGV[5]
local has_client_id = ARGV[6]
local needs_replicas = ARGV[7]
local dedupe_seconds = ARGV[8]
local file_ids = ARGV[9]
local hashed = text
if file_ids ~= '' then hashed = text .. '\0' .. file_ids end
if has_client_id == '1' then
  local prior = redis.call('GET', client_id_key)
  if prior then
    local id, ts, hash, state = string.match(prior, '^([^|]+)|([^|]+)|([^|]+)|(%a)$')
    if hash ~= redis.sha1hex(hashed) then return {'conflict'} end
    if state ~= 'D' then return {'pending'} end
    local entry = redis.call('XRANGE', stream_key, id, id)
    if #entry > 0 then
      local f = entry[1][2]
      local files = ''
      for i = 1, #f, 2 do if f[i] == 'f' then files = f[i + 1] end end
      return {'dup', id, ts, files}
    end
    local ms, seq = string.match(id, '^(%d+)-(%d+)$')
    local padded = string.rep('0', 16 - #ms) .. ms .. '-' .. string.rep('0', 16 - #seq) .. seq
    local revised = redis.call('ZRANGE', edits_key, '[' .. padded .. '|', '(' .. padded .. '}', 'BYLEX', 'LIMIT', 0, 1)
    if #revised > 0 then return {'revised', id, string.sub(revised[1], #padded + 2)} end
    return {'gone', id, ts}
  end
end
-- The time part of the stream's last id (XINFO's last-generated-id), when it is not counted.
local function last_ms()
  local info = redis.call('XINFO', 'STREAM', stream_key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return tonumber(string.match(info[i + 1], '^(%d+)')) end
  end
  return 0
end
local counts = redis.call('HMGET', counts_key, 'n', 'ms', 'a')
local n = tonumber(counts[1])
local ms = tonumber(counts[2]) or 0
if n and n - (tonumber(counts[3]) or 0) >= tonumber(backlog) then return {'full'} end
if not n then
  n = 0
  if redis.call('EXISTS', stream_key) == 1 then
    -- The old ids count as 0: they are at or before 'b', and every new one is after it.
    local b = last_ms()
    redis.call('HSET', counts_key, 'b', string.format('%d', b))
    ms = b + 1
  end
end
-- The attachments, checked and taken only once nothing else can refuse the send.
local refs = {}
for i, k in ipairs(upload_keys) do
  local upload = redis.call('GET', k)
  if not upload or string.sub(upload, 1, #user_id + 1) ~= user_id .. '|' then return {'nofile', i} end
  refs[#refs + 1] = string.sub(upload, #user_id + 2)
end
for _, k in ipairs(upload_keys) do redis.call('DEL', k) end
n = n + 1
local now = now_ms
if now > ms then ms = now end
local fields = {'u', user_id, 'n', username, 't', text, 'ts', sent_at}
if #refs > 0 then
  fields[#fields + 1] = 'f'
  fields[#fields + 1] = '[' .. table.concat(refs, ',') .. ']'
end
local id = string.format('%d-%d', ms, n)
local added = redis.pcall('XADD', stream_key, id, unpack(fields))
if type(added) == 'table' and added.err then
  -- Another writer's id is newer (an older parley in a rolling upgrade): go after it.
  ms = math.max(ms, last_ms() + 1)
  id = string.format('%d-%d', ms, n)
  redis.call('XADD', stream_key, id, unpack(fields))
end
redis.call('HSET', counts_key, 'n', n, 'ms', string.format('%d', ms), 'o:' .. user_id, n)
if has_client_id == '1' then
  local state = 'D'
  if needs_replicas == '1' then state = 'P' end
  redis.call('SET', client_id_key, id .. '|' .. sent_at .. '|' .. redis.sha1hex(hashed) .. '|' .. state, 'EX', dedupe_seconds)
end
return {'new', id, fields[10] or ''}
