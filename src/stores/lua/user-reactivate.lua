--[[
  Lifts the record's mark unless a later
  decision was written already. The logins that deactivation ended stay ended.

  KEYS[1] user_key  the user's record (hash)
  ARGV[1] status_epoch  the status epoch the list gave it
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local user_key = KEYS[1]
local status_epoch = ARGV[1]
if redis.call('HEXISTS', user_key, 'hash') == 0 then return 0 end
if tonumber(status_epoch) > (tonumber(redis.call('HGET', user_key, 'statusEpoch') or '0') or 0) then
  redis.call('HDEL', user_key, 'deactivated')
  redis.call('HSET', user_key, 'statusEpoch', status_epoch)
end
return 1
