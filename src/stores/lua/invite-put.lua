--[[
  Stores an invite, expiring at its time.

  KEYS[1] invite_key  the invite (hash)
  ARGV[1] expires_at  its expiry (ms)
  ARGV[2...] fields  field, value pairs
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local invite_key = KEYS[1]
local expires_at = ARGV[1]
local fields = { unpack(ARGV, 2) }
for i = 1, #fields, 2 do redis.call('HSET', invite_key, fields[i], fields[i + 1]) end
redis.call('PEXPIREAT', invite_key, expires_at)
return 1
