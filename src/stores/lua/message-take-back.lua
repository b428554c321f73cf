--[[
  A message taken back was never stored: a retry of it is stored anew. The archiver may have
  copied it already: it is marked pending with no record (withdrawn), and the archiver
  removes it from PostgreSQL.

  KEYS[1] stream_key  the room's stream
  KEYS[2] client_id_key  the client-id key (or the stream again)
  KEYS[3] pending_key  the room's edits not yet archived (zset)
  KEYS[4] counts_key  the room's counts (hash)
  ARGV[1] message_id  the message
  ARGV[2] padded_id  its padded id
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local stream_key = KEYS[1]
local client_id_key = KEYS[2]
local pending_key = KEYS[3]
local counts_key = KEYS[4]
local message_id = ARGV[1]
local padded_id = ARGV[2]
if client_id_key ~= stream_key then redis.call('DEL', client_id_key) end
redis.call('ZADD', pending_key, redis.call('HINCRBY', counts_key, 'ev', 1), padded_id)
return redis.call('XDEL', stream_key, message_id)
