--[[
  Moves a key to its new name, TTL included. If the new name exists too (an older parley was
  still writing the old name), they are merged: the higher credentials generation wins (a
  generation never goes back), session index entries are united, and an ended-note is kept.
  Idempotent, so processes starting together may all run it.

  KEYS[1] old_key  the old name
  KEYS[2] new_key  the new name
  ARGV[1] what  what the key is: "gen", "index" or "note"
]]
local old_key = KEYS[1]
local new_key = KEYS[2]
local what = ARGV[1]
if redis.call('EXISTS', old_key) == 0 then return 0 end
if redis.call('EXISTS', new_key) == 0 then
  redis.call('RENAME', old_key, new_key)
  return 1
end
if what == 'gen' then
  local old = redis.call('GET', old_key)
  local new = redis.call('GET', new_key)
  local n_old = tonumber(string.match(old, '^(%d+)')) or 0
  local n_new = tonumber(string.match(new, '^(%d+)')) or 0
  if n_old > n_new then redis.call('SET', new_key, old) end
elseif what == 'index' then
  local fields = redis.call('HGETALL', old_key)
  for i = 1, #fields, 2 do redis.call('HSETNX', new_key, fields[i], fields[i + 1]) end
end
redis.call('DEL', old_key)
return 1
