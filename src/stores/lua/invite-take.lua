--[[
  Returns its fields, now marked taken, or nil.

  KEYS[1] invite_key  the invite (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local invite_key = KEYS[1]
if redis.call('HEXISTS', invite_key, 'taken') == 1 then return false end
local fields = redis.call('HGETALL', invite_key)
if #fields == 0 then return false end
redis.call('HSET', invite_key, 'taken', '1')
return fields
