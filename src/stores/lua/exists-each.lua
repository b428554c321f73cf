--[[
  Whether each exists (1 or 0), in order. Reads only.

  KEYS[1...] names  any keys, of one slot
]]
local names = { unpack(KEYS, 1) }
local out = {}
for i, k in ipairs(names) do out[i] = redis.call('EXISTS', k) end
return out
