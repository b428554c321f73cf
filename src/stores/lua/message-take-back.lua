--[[
  A message taken back was never stored: a retry of it is stored anew.

  KEYS[1] stream_key  the room's stream
  KEYS[2] client_id_key  the client-id key (or the stream again)
  ARGV[1] message_id  the message
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local stream_key = KEYS[1]
local client_id_key = KEYS[2]
local message_id = ARGV[1]
if client_id_key ~= stream_key then redis.call('DEL', client_id_key) end
return redis.call('XDEL', stream_key, message_id)
