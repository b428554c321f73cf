--[[
  Ends a lease (a room's archiving, the sweep, retention) if this process still holds it.

  KEYS[1] lease_key  the lease
  ARGV[1] owner  this process's lease value
]]
local lease_key = KEYS[1]
local owner = ARGV[1]
if redis.call('GET', lease_key) == owner then return redis.call('DEL', lease_key) end
return 0
