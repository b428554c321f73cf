--[[
  Leaves a room (or declines an invitation); a ban stays. An owner who leaves hands the room
  to the heir named (chosen by the caller: a moderator if there is one, else a member, never
  a deleted account); if the heir is not right any more ({'retry'}), nothing changes and the
  caller chooses again. When the last member who can own it leaves, the room stays (its
  kind, topic, invitations and bans) with no owner: the next member to join becomes its
  owner. Returns {standing left ("" none), heir id}.

  KEYS[1] info_key  the room's info
  KEYS[2] access_key  the user's standing
  KEYS[3] members_key  the room's members
  KEYS[4] heir_access_key  the heir's standing (the user's own when there is no heir)
  KEYS[5] kind_key  the room's kind
  ARGV[1] user_id  who leaves
  ARGV[2] heir_id  the heir ("" none)
  ARGV[3] nobody_can_inherit  "1" when no other member can inherit (every other member's account is deleted)
  ARGV[4] members_seen  how many members the caller saw
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local info_key = KEYS[1]
local access_key = KEYS[2]
local members_key = KEYS[3]
local heir_access_key = KEYS[4]
local kind_key = KEYS[5]
local user_id = ARGV[1]
local heir_id = ARGV[2]
local nobody_can_inherit = ARGV[3]
local members_seen = ARGV[4]
local access = redis.call('GET', access_key)
if not access or access == 'banned' or access == 'removed' then return {''} end
local others = redis.call('HLEN', members_key) - (redis.call('HEXISTS', members_key, user_id))
if nobody_can_inherit == '1' and heir_id == '' then
  -- Nobody can inherit, as the caller saw the members: unless someone has joined since.
  if redis.call('HLEN', members_key) ~= tonumber(members_seen) then return {'retry'} end
  others = 0
end
if access == 'owner' and others > 0 then
  local heir = heir_id
  local role = heir ~= '' and heir ~= user_id and redis.call('HGET', members_key, heir)
  if role ~= 'moderator' and role ~= 'member' then return {'retry'} end
  if role == 'member' then
    for _, r in ipairs(redis.call('HVALS', members_key)) do
      if r == 'moderator' then return {'retry'} end
    end
  end
end
redis.call('DEL', access_key)
redis.call('HDEL', members_key, user_id)
if access ~= 'owner' then return {access} end
if others == 0 then
  redis.call('HDEL', info_key, 'owner')
  return {access}
end
redis.call('HSET', info_key, 'owner', heir_id)
redis.call('HSET', members_key, heir_id, 'owner')
redis.call('SET', heir_access_key, 'owner')
return {access, heir_id}
