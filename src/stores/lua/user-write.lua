--[[
  Returns the deadline by which the registration must finish (Redis's clock, ms).

  KEYS[1] user_key  the user's record (hash)
  ARGV[1] id  the new id
  ARGV[2] username  the name
  ARGV[3] hash  the password hash
  ARGV[4] created_at  createdAt (ms)
  ARGV[5] hold_ms  how long the registration may take (ms)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local user_key = KEYS[1]
local id = ARGV[1]
local username = ARGV[2]
local hash = ARGV[3]
local created_at = ARGV[4]
local hold_ms = ARGV[5]
local untilMs = now_ms + tonumber(hold_ms)
redis.call('HSET', user_key, 'id', id, 'username', username, 'hash', hash, 'createdAt', created_at, 'pending', '1', 'pendingUntil', untilMs)
return untilMs
