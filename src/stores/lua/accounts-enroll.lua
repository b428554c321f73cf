--[[
  Returns 0 refused, 1 enrolled, 2 enrolled as the first account (admin). Registrations in
  flight count as accounts (an abandoned one is swept before: see Registrations.sweep in registration.ts).

  KEYS[1] accounts_key  the list of accounts (zset: id by createdAt)
  KEYS[2] admins_key  the admins (set)
  KEYS[3] deactivated_key  the deactivated accounts (set)
  KEYS[4] pending_key  registrations in flight (zset: id by deadline)
  KEYS[5] epochs_key  status epochs (hash: id -> epoch)
  ARGV[1] id  the account
  ARGV[2] created_at  createdAt (ms)
  ARGV[3] only_first  "1" if only the first account may enroll
  ARGV[4] pending_until  its deadline (ms, Redis's clock)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local accounts_key = KEYS[1]
local admins_key = KEYS[2]
local deactivated_key = KEYS[3]
local pending_key = KEYS[4]
local epochs_key = KEYS[5]
local id = ARGV[1]
local created_at = ARGV[2]
local only_first = ARGV[3]
local pending_until = ARGV[4]
local first = redis.call('ZCARD', accounts_key) == 0
if only_first == '1' and not first then return 0 end
redis.call('ZADD', accounts_key, created_at, id)
redis.call('ZADD', pending_key, pending_until, id)
if first then
  redis.call('SADD', admins_key, id)
  return 2
end
return 1
