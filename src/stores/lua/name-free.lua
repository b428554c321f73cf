--[[
  Frees a name only while it leads to `id`.

  KEYS[1] name_key  the name's key
  ARGV[1] id  the account it must lead to
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local name_key = KEYS[1]
local id = ARGV[1]
if redis.call('GET', name_key) ~= id then return 0 end
return redis.call('DEL', name_key)
