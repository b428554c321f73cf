--[[
  Returns {outcome, kind, role, topic}: outcome created, joined (newly a member, or its owner
  if it had none) or member (already one); or {"banned"}, {"not_found"} (a private room
  without an invitation), {"exists"} (asked to create a room that exists) or {"absent"} (it
  does not exist and may not be created now).

  KEYS[1] kind_key  the room's kind (public or private)
  KEYS[2] info_key  the room's info (hash: owner, createdAt, topic, bans)
  KEYS[3] access_key  the user's standing in the room
  KEYS[4] members_key  the room's members (hash: id -> role)
  ARGV[1] user_id  who joins
  ARGV[2] now  now (ms)
  ARGV[3] create_kind  the kind to create ("" = join only: a room that does not exist is created public)
  ARGV[4] new_topic  the topic of a room created now
  ARGV[5] may_create  "1" if the room may be created now (the creator's quota allows it)
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local kind_key = KEYS[1]
local info_key = KEYS[2]
local access_key = KEYS[3]
local members_key = KEYS[4]
local user_id = ARGV[1]
local now = ARGV[2]
local create_kind = ARGV[3]
local new_topic = ARGV[4]
local may_create = ARGV[5]
local kind = redis.call('GET', kind_key)
if not kind and may_create ~= '1' then return {'absent'} end
if not kind then
  kind = create_kind ~= '' and create_kind or 'public'
  redis.call('SET', kind_key, kind)
  redis.call('HSET', info_key, 'owner', user_id, 'createdAt', now, 'topic', new_topic)
  redis.call('SET', access_key, 'owner')
  redis.call('HSET', members_key, user_id, 'owner')
  return {'created', kind, 'owner', new_topic}
end
if create_kind ~= '' then return {'exists'} end
local access = redis.call('GET', access_key)
local topic = redis.call('HGET', info_key, 'topic') or ''
if access == 'banned' then return {'banned'} end
if access == 'owner' or access == 'moderator' or access == 'member' then
  return {'member', kind, access, topic}
end
if kind == 'private' and access ~= 'invited' then return {'not_found'} end
-- A room its last member left has no owner: whoever joins next becomes it.
local role = redis.call('HEXISTS', info_key, 'owner') == 1 and 'member' or 'owner'
if role == 'owner' then redis.call('HSET', info_key, 'owner', user_id) end
redis.call('SET', access_key, role)
redis.call('HSET', members_key, user_id, role)
return {'joined', kind, role, topic}
