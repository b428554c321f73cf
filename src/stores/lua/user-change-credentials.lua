--[[
  (A "deactivated" mark is written only with a newer status epoch than the record's: a
  reactivation decided later in the list has already been written.)
  Moves the generation on, optionally sets the hash, and names the login carried over, all
  at once: no instant exists where the changer's own login is stale, nor one where another
  login made with the old password looks current. Removing an account must also go through
  here: deleting the generation key would make generation-0 logins current again.

  KEYS[1] generation_key  the user's credentials generation
  KEYS[2] user_key  the user's record (hash)
  ARGV[1] reason  why (logout, password_changed, ...)
  ARGV[2] new_hash  the new password hash ("" keeps it)
  ARGV[3] carried_handle  the login carried over ("" none)
  ARGV[4] becomes  what becomes of the account ("" nothing, "deactivated", "deleted")
  ARGV[5] status_epoch  for "deactivated", the status epoch the list gave it
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local generation_key = KEYS[1]
local user_key = KEYS[2]
local reason = ARGV[1]
local new_hash = ARGV[2]
local carried_handle = ARGV[3]
local becomes = ARGV[4]
local status_epoch = ARGV[5]
local cur = redis.call('GET', generation_key)
local n = 0
if cur then n = tonumber(string.match(cur, '^(%d+)')) or 0 end
n = n + 1
if carried_handle ~= '' then
  redis.call('SET', generation_key, n .. ':' .. carried_handle)
else
  redis.call('SET', generation_key, tostring(n))
end
if new_hash ~= '' then redis.call('HSET', user_key, 'hash', new_hash) end
if becomes == 'deactivated' then
  if tonumber(status_epoch) > (tonumber(redis.call('HGET', user_key, 'statusEpoch') or '0') or 0) then
    redis.call('HSET', user_key, 'deactivated', '1', 'statusEpoch', status_epoch)
  end
elseif becomes == 'deleted' then
  redis.call('HDEL', user_key, 'username', 'hash', 'deactivated', 'pending')
  redis.call('HSET', user_key, 'deleted', '1')
end
redis.call('HSET', user_key, 'generationReason', reason)
return n
