--[[
  Counts one more file uploaded to a room today, unless the room has had `cap` already:
  1 when counted, 0 when refused (nothing counted).

  KEYS[1] count_key  the room's files today
  ARGV[1] cap  files a room accepts per day
  ARGV[2] ttl_seconds  how long the day's count is kept (s)
]]
local count_key = KEYS[1]
local cap = ARGV[1]
local ttl_seconds = ARGV[2]
local n = tonumber(redis.call('GET', count_key) or '0')
if n >= tonumber(cap) then return 0 end
if redis.call('INCR', count_key) == 1 then redis.call('EXPIRE', count_key, ttl_seconds) end
return 1
