--[[
  Redis's clock now, in ms since the epoch: now_ms. Scripts compare it with deadlines that
  parley computed in Redis's clock (see src/redis/clock.ts).
]]
local clock_now = redis.call('TIME')
local now_ms = tonumber(clock_now[1]) * 1000 + math.floor(tonumber(clock_now[2]) / 1000)
