--[[
  Undoes DELIST when the rest of a deletion failed.

  KEYS[1] accounts_key  the list of accounts (zset: id by createdAt)
  KEYS[2] admins_key  the admins (set)
  KEYS[3] deactivated_key  the deactivated accounts (set)
  KEYS[4] pending_key  registrations in flight (zset: id by deadline)
  KEYS[5] epochs_key  status epochs (hash: id -> epoch)
  KEYS[6] deleted_key  deleted accounts (set)
  ARGV[1] user_id  the account
  ARGV[2] score  its score in the list ("" unlisted)
  ARGV[3] was_admin  "1" if it was an admin
  ARGV[4] was_deactivated  "1" if it was deactivated
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
local score = ARGV[2]
local was_admin = ARGV[3]
local was_deactivated = ARGV[4]
local id = user_id
redis.call('SREM', deleted_key, id)
if score ~= '' then redis.call('ZADD', accounts_key, score, id) end
if was_admin == '1' then redis.call('SADD', admins_key, id) end
if was_deactivated == '1' then redis.call('SADD', deactivated_key, id) end
return 1
