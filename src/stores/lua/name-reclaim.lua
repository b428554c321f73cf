--[[
  Takes a name over only from a user whose record does not exist, was deleted, or was left
  half-made past its deadline: on a cluster, a failover can lose a record written just before
  it while its name survives, and a failure between the steps leaves a pending account; the
  name is not lost for good.

  KEYS[1] name_key  the name's key
  ARGV[1] id  the account taking it
  ARGV[2] current_id  the id the name leads to now
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local name_key = KEYS[1]
local id = ARGV[1]
local current_id = ARGV[2]
if redis.call('GET', name_key) ~= current_id then return 0 end
redis.call('SET', name_key, id)
return 1
