--[[
  Records activity as a page request does: sets the login's lastActive (never backwards) and
  renews the TTL, in one write. A record deleted meanwhile stays deleted, one whose ending is
  under way (its note is written before the record is deleted) is left alone, and a write
  parley has given up on (Redis stalled) is refused by the fence. lastActive is found as
  JSON.stringify wrote it: a quoted key inside a string value has its quotes escaped, so it
  cannot match. A record without it only has its TTL renewed.

  KEYS[1] record_key  the session record
  KEYS[2] ended_key  its ended-note
  ARGV[1] ttl  the TTL to renew (s)
  ARGV[2] active_at  now (ms)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local record_key = KEYS[1]
local ended_key = KEYS[2]
local ttl = ARGV[1]
local active_at = ARGV[2]
local raw = redis.call('GET', record_key)
if not raw or redis.call('EXISTS', ended_key) == 1 then return 0 end
local old = string.match(raw, '"lastActive":(%-?[%d%.eE+%-]+)')
local now = tonumber(active_at)
if old and tonumber(old) and tonumber(old) < now then
  local updated = string.gsub(raw, '"lastActive":%-?[%d%.eE+%-]+', '"lastActive":' .. active_at, 1)
  redis.call('SET', record_key, updated, 'EX', ttl)
else
  redis.call('EXPIRE', record_key, ttl)
end
return 1
