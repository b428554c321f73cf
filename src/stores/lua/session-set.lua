--[[
  Writes the record unless the
  session has been ended (a request that loaded it before a logout or revocation and saves it
  after cannot bring it back) or parley has already given up on the write.

  KEYS[1] record_key  the session record
  KEYS[2] ended_key  its ended-note
  ARGV[1] json  the record
  ARGV[2] ttl  its TTL (s)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local record_key = KEYS[1]
local ended_key = KEYS[2]
local json = ARGV[1]
local ttl = ARGV[2]
if redis.call('EXISTS', ended_key) == 1 then return 0 end
redis.call('SET', record_key, json, 'EX', ttl)
return 1
