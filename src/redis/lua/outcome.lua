--[[
  The wrapper of every fenced write (src/redis/fence.ts): the script runs as a function, so
  that its outcome can be noted when it ran after the moment the watchdog may already have
  reset its connection. fencedEval adds one key (where to note the outcome, in the script's
  slot) after the script's keys, and one argument (that moment, ms in Redis's clock) after
  the deadline; both are taken off here first.
]]
local outcome = table.remove(KEYS)
local late_after = tonumber(table.remove(ARGV))
local function body()
--- @body
end
local r = body()
if type(r) == 'table' and r.err then return r end
local t = redis.call('TIME')
if tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) > late_after then
  local v = r
  if v == false then v = cjson.null elseif v == true then v = 1
  elseif type(v) == 'table' and v.ok then v = v.ok end
  local encoded, text = pcall(cjson.encode, v)
  if encoded then redis.call('SET', outcome, text, 'PX', 10000) end
end
return r
