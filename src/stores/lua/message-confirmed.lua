--[[
  The replicas hold the message: a
  retry of it is now answered with it.

  KEYS[1] client_id_key  the client-id key
  ARGV[1] message_id  the message
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local client_id_key = KEYS[1]
local message_id = ARGV[1]
local prior = redis.call('GET', client_id_key)
if prior and string.sub(prior, 1, #message_id + 1) == message_id .. '|' then
  redis.call('SET', client_id_key, string.sub(prior, 1, -2) .. 'D', 'KEEPTTL')
end
return 1
