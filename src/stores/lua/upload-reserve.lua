--[[
  Before an upload stores a byte: counts it against the uploader's upload budget (`points`
  uploads begun per `window_ms`; every attempt counts, refused or not) and reserves `bytes` of
  their daily quota: {"budget", ms until the window ends} (nothing counted) or {"quota",
  bytes used today} (nothing reserved). Else
  {"ok"}. The caller settles the reservation to the bytes actually stored (INCRBY of the
  difference), or gives it back when nothing was stored.

  KEYS[1] quota_key  bytes the user uploaded today
  KEYS[2] budget_key  uploads the user began in this window
  ARGV[1] bytes  the bytes to reserve
  ARGV[2] quota  the daily quota (bytes)
  ARGV[3] points  uploads per window
  ARGV[4] window_ms  the budget's window (ms)
  ARGV[5] quota_seconds  how long a day's count is kept (s)
]]
local quota_key = KEYS[1]
local budget_key = KEYS[2]
local bytes = ARGV[1]
local quota = ARGV[2]
local points = ARGV[3]
local window_ms = ARGV[4]
local quota_seconds = ARGV[5]
local begun = tonumber(redis.call('GET', budget_key) or '0')
if begun >= tonumber(points) then
  local ttl = redis.call('PTTL', budget_key)
  if ttl < 0 then
    redis.call('PEXPIRE', budget_key, window_ms)
    ttl = tonumber(window_ms)
  end
  return {'budget', ttl}
end
if redis.call('INCR', budget_key) == 1 then redis.call('PEXPIRE', budget_key, window_ms) end
local used = tonumber(redis.call('GET', quota_key) or '0')
if used + tonumber(bytes) > tonumber(quota) then return {'quota', used} end
redis.call('INCRBY', quota_key, bytes)
redis.call('EXPIRE', quota_key, quota_seconds)
return {'ok'}
