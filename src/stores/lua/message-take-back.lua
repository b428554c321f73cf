--[[
  A message taken back was never stored: a retry of it is stored anew. The archiver may have
  copied it already: it is marked pending with no record (withdrawn), and the archiver
  removes it from PostgreSQL. The files it carried are offered to its sender again (a retry
  attaches them as the first send did).

  KEYS[1] stream_key  the room's stream
  KEYS[2] client_id_key  the client-id key (or the stream again)
  KEYS[3] pending_key  the room's edits not yet archived (zset)
  KEYS[4] counts_key  the room's counts (hash)
  KEYS[5...] upload_keys  the uploads the message carried, in its order (offered again)
  ARGV[1] message_id  the message
  ARGV[2] padded_id  its padded id
  ARGV[3] user_id  its sender
  ARGV[4] upload_seconds  how long an upload is offered (s)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local stream_key = KEYS[1]
local client_id_key = KEYS[2]
local pending_key = KEYS[3]
local counts_key = KEYS[4]
local upload_keys = { unpack(KEYS, 5) }
local message_id = ARGV[1]
local padded_id = ARGV[2]
local user_id = ARGV[3]
local upload_seconds = ARGV[4]
if #upload_keys > 0 then
  local entry = redis.call('XRANGE', stream_key, message_id, message_id)
  if #entry > 0 then
    local f = entry[1][2]
    for i = 1, #f, 2 do
      if f[i] == 'f' then
        for j, ref in ipairs(cjson.decode(f[i + 1])) do
          if upload_keys[j] then
            redis.call('SET', upload_keys[j], user_id .. '|' .. cjson.encode(ref), 'EX', upload_seconds)
          end
        end
      end
    end
  end
end
if client_id_key ~= stream_key then redis.call('DEL', client_id_key) end
redis.call('ZADD', pending_key, redis.call('HINCRBY', counts_key, 'ev', 1), padded_id)
return redis.call('XDEL', stream_key, message_id)
