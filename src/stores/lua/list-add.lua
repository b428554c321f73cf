--[[
  An invitation's entry is "i:<since>" and a pending DM's "d:<since>"; joining turns either
  into "<since>", within the rooms cap like any new room. A new entry that is not an invitation starts reading at the position given
  (so only what arrives after it is unread). Returns 1 added (or turned into a room), 0
  there already, -1 full.
  Not fenced: adding to a list is harmless to repeat or apply late.

  KEYS[1] list_key  the user's list of rooms (hash: room -> entry)
  KEYS[2] positions_key  the user's read positions
  KEYS[3] mentions_key  the user's mentions
  ARGV[1] room  the room
  ARGV[2] entry_since  when the entry starts (ms)
  ARGV[3] how  "join", "invite" or "dm" (a DM someone else started)
  ARGV[4] max_rooms  the rooms cap
  ARGV[5] max_invitations  the invitations cap
  ARGV[6] max_pending_dms  the pending-DMs cap
  ARGV[7] read_from  the read position to start from ("" none)
]]
local list_key = KEYS[1]
local positions_key = KEYS[2]
local mentions_key = KEYS[3]
local room = ARGV[1]
local entry_since = ARGV[2]
local how = ARGV[3]
local max_rooms = ARGV[4]
local max_invitations = ARGV[5]
local max_pending_dms = ARGV[6]
local read_from = ARGV[7]
local cur = redis.call('HGET', list_key, room)
-- There already (as this kind, or as a room): nothing to count.
if cur and (how ~= 'join' or (string.sub(cur, 1, 2) ~= 'i:' and string.sub(cur, 1, 2) ~= 'd:')) then
  return 0
end
local invitations, pending = 0, 0
local oldest, oldest_since
for _, v in ipairs(redis.call('HVALS', list_key)) do
  local tag = string.sub(v, 1, 2)
  if tag == 'i:' then invitations = invitations + 1 elseif tag == 'd:' then pending = pending + 1 end
end
local function start()
  if read_from ~= '' then redis.call('HSETNX', positions_key, room, read_from) end
end
if how == 'invite' then
  if cur then return 0 end
  if invitations >= tonumber(max_invitations) then return -1 end
  redis.call('HSET', list_key, room, 'i:' .. entry_since)
  return 1
end
if how == 'dm' then
  if cur then return 0 end
  if pending >= tonumber(max_pending_dms) then
    local all = redis.call('HGETALL', list_key)
    for i = 1, #all, 2 do
      local v = all[i + 1]
      if string.sub(v, 1, 2) == 'd:' then
        local since = tonumber(string.sub(v, 3)) or 0
        if not oldest or since < oldest_since then oldest, oldest_since = all[i], since end
      end
    end
    redis.call('HDEL', list_key, oldest)
    redis.call('HDEL', positions_key, oldest)
    redis.call('HDEL', mentions_key, oldest)
  end
  redis.call('HSET', list_key, room, 'd:' .. entry_since)
  start()
  return 1
end
local tag = cur and string.sub(cur, 1, 2)
if cur and tag ~= 'i:' and tag ~= 'd:' then return 0 end
-- A new room, or an invitation or pending DM taken up, is one more of the user's own.
if redis.call('HLEN', list_key) - invitations - pending >= tonumber(max_rooms) then return -1 end
redis.call('HSET', list_key, room, entry_since)
start()
return 1
