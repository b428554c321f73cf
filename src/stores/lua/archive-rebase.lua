--[[
  Edits PostgreSQL refused because it holds a higher version (the room's edit counter went
  back: a Redis failover lost increments whose edits were archived): where the edit is still
  the pending one read (its mark has the score read), the counter is moved past
  PostgreSQL's version and the edit marked again with a new, higher score, so the next batch
  writes it. A mark that changed (a newer edit) or went (archived since) is left as it is.
  Returns how many were marked again.

  KEYS[1] pending_key  the room's edits not yet archived (zset)
  KEYS[2] counts_key  the room's counts (hash)
  ARGV[1...] refused  padded id, score read, PostgreSQL's version, ...
]]
local pending_key = KEYS[1]
local counts_key = KEYS[2]
local refused = { unpack(ARGV, 1) }
local marked = 0
for i = 1, #refused, 3 do
  local padded = refused[i]
  if redis.call('ZSCORE', pending_key, padded) == refused[i + 1] then
    local version = tonumber(refused[i + 2])
    if (tonumber(redis.call('HGET', counts_key, 'ev')) or 0) < version then
      redis.call('HSET', counts_key, 'ev', string.format('%d', version))
    end
    redis.call('ZADD', pending_key, redis.call('HINCRBY', counts_key, 'ev', 1), padded)
    marked = marked + 1
  end
end
return marked
