--[[
  Takes a registration off the list of registrations in flight.

  KEYS[1] pending_key  registrations in flight
  ARGV[1] id  the account
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local pending_key = KEYS[1]
local id = ARGV[1]
return redis.call('ZREM', pending_key, id)
