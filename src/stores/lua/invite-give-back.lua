--[[
  Lifts the mark, if the invite was not withdrawn meanwhile.

  KEYS[1] invite_key  the invite (hash)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local invite_key = KEYS[1]
return redis.call('HDEL', invite_key, 'taken')
