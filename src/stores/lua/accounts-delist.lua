--[[
  Returns {-1} refused (the last active admin, while other accounts exist), else {1, the
  account's score in the list ("" if unlisted), "1" if it was an admin, "1" if deactivated}:
  what relisting puts back if the rest of the deletion fails.

  KEYS[1] accounts_key  the list of accounts (zset: id by createdAt)
  KEYS[2] admins_key  the admins (set)
  KEYS[3] deactivated_key  the deactivated accounts (set)
  KEYS[4] pending_key  registrations in flight (zset: id by deadline)
  KEYS[5] epochs_key  status epochs (hash: id -> epoch)
  KEYS[6] deleted_key  deleted accounts (set)
  ARGV[1] user_id  the account
  ARGV[2...] admin_ids  ids that ADMIN_USERNAMES names
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local accounts_key = KEYS[1]
local admins_key = KEYS[2]
local deactivated_key = KEYS[3]
local pending_key = KEYS[4]
local epochs_key = KEYS[5]
local deleted_key = KEYS[6]
local user_id = ARGV[1]
local admin_ids = { unpack(ARGV, 2) }
--- @include "admins"
local id = user_id
local others = redis.call('ZCARD', accounts_key) - redis.call('ZCARD', pending_key)
if isLast(id) and others > 1 then return {-1} end
local score = redis.call('ZSCORE', accounts_key, id) or ''
local wasAdmin = tostring(redis.call('SREM', admins_key, id))
local wasDeactivated = tostring(redis.call('SREM', deactivated_key, id))
redis.call('ZREM', accounts_key, id)
redis.call('ZREM', pending_key, id)
redis.call('SADD', deleted_key, id)
return {1, score, wasAdmin, wasDeactivated}
