--[[
  After PostgreSQL committed a batch: moves the room's archive cursor forward (never back),
  clears the pending marks of the edits archived (only where no newer edit came since: the
  score is still the one read), and trims what PostgreSQL holds and the window no longer
  needs. Every trim is behind the cursor: the stream keeps its newest `window` messages and
  everything after the cursor; edits older than the stream's oldest message go once
  archived. `t` in the counts is then the oldest id the stream still holds (or the cursor,
  if it holds none): older messages are read from PostgreSQL. Returns {trimmed, pending}.
  Safe to run late or twice: a stalled archiver that resumes after another moved on changes
  nothing that is newer.

  KEYS[1] stream_key  the room's stream
  KEYS[2] edits_key  the room's edits (zset)
  KEYS[3] pending_key  the room's edits not yet archived (zset)
  KEYS[4] counts_key  the room's counts (hash)
  ARGV[1] aid  the last message id PostgreSQL now holds ("" if this batch had none)
  ARGV[2] aid_padded  that id padded (byte order is id order)
  ARGV[3] a  its sequence number (0 for a message from before counting began)
  ARGV[4] window  the archived messages the stream keeps
  ARGV[5...] archived  the edits archived: padded id, score, padded id, score, ...
]]
local stream_key = KEYS[1]
local edits_key = KEYS[2]
local pending_key = KEYS[3]
local counts_key = KEYS[4]
local aid = ARGV[1]
local aid_padded = ARGV[2]
local a = ARGV[3]
local window = ARGV[4]
local archived = { unpack(ARGV, 5) }
local function pad(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return string.rep('0', 16 - #ms) .. ms .. '-' .. string.rep('0', 16 - #seq) .. seq
end
if aid ~= '' then
  local cur = redis.call('HGET', counts_key, 'aid')
  if not cur or pad(cur) < aid_padded then
    redis.call('HSET', counts_key, 'aid', aid, 'a', a)
  end
end
for i = 1, #archived, 2 do
  if redis.call('ZSCORE', pending_key, archived[i]) == archived[i + 1] then
    redis.call('ZREM', pending_key, archived[i])
  end
end
local c = redis.call('HMGET', counts_key, 'aid', 'a', 'n', 'b')
local trimmed = 0
if c[1] then
  -- The cursor is a counted id (its sequence part is the room's count) only in a room that
  -- counts (`n`), and after the boundary `b` of messages from before counting began. Only
  -- then does `n - a` say how many messages follow it; otherwise trim by id alone.
  local counted = c[3] and ((not c[4]) or tonumber(string.match(c[1], '^(%d+)')) > tonumber(c[4]))
  if counted and tonumber(c[3]) - tonumber(c[2] or '0') <= tonumber(window) then
    -- At most `window` messages follow the cursor: the ones cut are all archived.
    trimmed = redis.call('XTRIM', stream_key, 'MAXLEN', '~', window)
  elseif counted then
    -- More than `window` messages follow the cursor: everything before it goes.
    trimmed = redis.call('XTRIM', stream_key, 'MINID', '~', c[1])
  else
    -- Not counted (a room from before counting): nothing says how many follow the cursor,
    -- so the window is cut to its size only once the whole stream is archived (its last
    -- entry is at or before the cursor). Until then the room keeps what it has.
    local last = redis.call('XREVRANGE', stream_key, '+', '-', 'COUNT', 1)
    if #last == 0 or pad(last[1][1]) <= pad(c[1]) then
      trimmed = redis.call('XTRIM', stream_key, 'MAXLEN', '~', window)
    end
  end
  if trimmed > 0 then
    local first = redis.call('XRANGE', stream_key, '-', '+', 'COUNT', 1)
    local t = c[1]
    if #first > 0 then t = first[1][1] end
    redis.call('HSET', counts_key, 't', t)
  end
  local t = redis.call('HGET', counts_key, 't')
  if t then
    local old = redis.call('ZRANGE', edits_key, '-', '(' .. pad(t) .. '|', 'BYLEX', 'LIMIT', 0, 500)
    for _, member in ipairs(old) do
      if not redis.call('ZSCORE', pending_key, string.sub(member, 1, 33)) then
        redis.call('ZREM', edits_key, member)
      end
    end
  end
end
return {trimmed, redis.call('ZCARD', pending_key)}
