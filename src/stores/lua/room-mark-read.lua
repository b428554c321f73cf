--[[
  Moves the read position forward only (a stale tab cannot move it back), and clears all of
  the room's mentions (read up to the newest the page showed). A room that is not in the
  user's list stores nothing (a position for an invented name would be kept for ever). Not
  fenced: it only moves forward, so one applied late changes nothing.

  KEYS[1] positions_key  the user's read positions (hash: room -> id)
  KEYS[2] mentions_key  the user's mentions (hash)
  KEYS[3] list_key  the user's list of rooms (hash)
  ARGV[1] room  the room
  ARGV[2] message_id  the newest message id the page showed
]]
local positions_key = KEYS[1]
local mentions_key = KEYS[2]
local list_key = KEYS[3]
local room = ARGV[1]
local message_id = ARGV[2]
if redis.call('HEXISTS', list_key, room) == 0 then return 0 end
local cur = redis.call('HGET', positions_key, room)
local function parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
if cur then
  local a, b = parts(cur)
  local c, d = parts(message_id)
  if c < a or (c == a and d <= b) then return 0 end
end
redis.call('HSET', positions_key, room, message_id)
redis.call('HDEL', mentions_key, room)
return 1
