--[[
  Undoes an enrolment: the caller's own at once (it knows the record was not activated),
  else only once its deadline has passed, with slack for another node's clock (a sweep:
  then the activation can no longer happen).

  KEYS[1] accounts_key  the list of accounts (zset: id by createdAt)
  KEYS[2] admins_key  the admins (set)
  KEYS[3] deactivated_key  the deactivated accounts (set)
  KEYS[4] pending_key  registrations in flight (zset: id by deadline)
  KEYS[5] epochs_key  status epochs (hash: id -> epoch)
  ARGV[1] id  the account
  ARGV[2] undo_now  "1" to undo the caller's own registration now, else only past its deadline
  ARGV[3] clock_slack_ms  slack for another node's clock (ms)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local accounts_key = KEYS[1]
local admins_key = KEYS[2]
local deactivated_key = KEYS[3]
local pending_key = KEYS[4]
local epochs_key = KEYS[5]
local id = ARGV[1]
local undo_now = ARGV[2]
local clock_slack_ms = ARGV[3]
local untilMs = redis.call('ZSCORE', pending_key, id)
if untilMs == false then return 0 end
if undo_now ~= '1' and tonumber(untilMs) + tonumber(clock_slack_ms) >= now_ms then return 0 end
redis.call('ZREM', accounts_key, id)
redis.call('SREM', admins_key, id)
redis.call('ZREM', pending_key, id)
return 1
