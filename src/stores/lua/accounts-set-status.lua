--[[
  Marks the account in the list and moves its status
  epoch on; the record follows (changeCredentials or REACTIVATE) with that epoch, so when a
  deactivation and a reactivation cross, the record ends as the list decided last.
  Returns {1, epoch} done, {0} not an account, {-1} the last active admin, {-2} the actor is
  not an active admin (any more).

  KEYS[1] accounts_key  the list of accounts (zset: id by createdAt)
  KEYS[2] admins_key  the admins (set)
  KEYS[3] deactivated_key  the deactivated accounts (set)
  KEYS[4] pending_key  registrations in flight (zset: id by deadline)
  KEYS[5] epochs_key  status epochs (hash: id -> epoch)
  ARGV[1] actor_id  the acting admin
  ARGV[2] target_id  the account
  ARGV[3] deactivate  "1" to deactivate, "0" to reactivate
  ARGV[4...] admin_ids  ids that ADMIN_USERNAMES names
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local accounts_key = KEYS[1]
local admins_key = KEYS[2]
local deactivated_key = KEYS[3]
local pending_key = KEYS[4]
local epochs_key = KEYS[5]
local actor_id = ARGV[1]
local target_id = ARGV[2]
local deactivate = ARGV[3]
local admin_ids = { unpack(ARGV, 4) }
--- @include "admins"
if not isActiveAdmin(actor_id) then return {-2} end
if redis.call('ZSCORE', accounts_key, target_id) == false then return {0} end
if deactivate == '1' then
  if isLast(target_id) then return {-1} end
  redis.call('SADD', deactivated_key, target_id)
else
  redis.call('SREM', deactivated_key, target_id)
end
return {1, redis.call('HINCRBY', epochs_key, target_id, 1)}
