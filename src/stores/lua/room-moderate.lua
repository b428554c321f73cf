--[[
  Checks the actor's standing now: owners and moderators moderate; only an owner changes
  roles or acts on a moderator; nobody acts on the owner. A removal's standing expires (by
  then the removed user's sockets have long left; a public room may be rejoined at once, a
  private one needs a new invitation either way); bans are counted in the room's info and
  capped. Returns {code, target's standing before ("" none)}: code ok, forbidden,
  not_found, invalid or full (the room holds its most bans).

  KEYS[1] kind_key  the room's kind
  KEYS[2] info_key  the room's info
  KEYS[3] actor_access_key  the actor's standing
  KEYS[4] target_access_key  the target's standing
  KEYS[5] members_key  the room's members
  ARGV[1] action  topic, invite, remove, ban, unban or role
  ARGV[2] actor_id  who acts
  ARGV[3] target_id  on whom
  ARGV[4] value  the topic text, or the new role
  ARGV[5] removed_seconds  how long a removal's standing lasts (s)
  ARGV[6] max_bans  the most bans a room keeps
  A fenced write: run by fencedEval.
]]
--- @include "fence"
local kind_key = KEYS[1]
local info_key = KEYS[2]
local actor_access_key = KEYS[3]
local target_access_key = KEYS[4]
local members_key = KEYS[5]
local action = ARGV[1]
local actor_id = ARGV[2]
local target_id = ARGV[3]
local value = ARGV[4]
local removed_seconds = ARGV[5]
local max_bans = ARGV[6]
local kind = redis.call('GET', kind_key)
if not kind then return {'not_found', ''} end
local actor = redis.call('GET', actor_access_key)
if actor ~= 'owner' and actor ~= 'moderator' then
  if kind == 'private' and actor ~= 'member' then return {'not_found', ''} end
  return {'forbidden', ''}
end
if action == 'topic' then
  redis.call('HSET', info_key, 'topic', value)
  return {'ok', ''}
end
if actor_id == target_id then return {'invalid', ''} end
local target = redis.call('GET', target_access_key) or ''
if target == 'owner' then return {'forbidden', target} end
if target == 'moderator' and actor ~= 'owner' then return {'forbidden', target} end
if action == 'role' then
  if actor ~= 'owner' then return {'forbidden', target} end
  if target ~= 'member' and target ~= 'moderator' then return {'not_found', target} end
  redis.call('SET', target_access_key, value)
  redis.call('HSET', members_key, target_id, value)
  return {'ok', target}
end
if action == 'invite' then
  if kind ~= 'private' then return {'invalid', target} end
  if target == 'banned' then return {'forbidden', target} end
  if target == '' or target == 'removed' then redis.call('SET', target_access_key, 'invited') end
  return {'ok', target}
end
if action == 'remove' then
  if target == '' or target == 'banned' or target == 'removed' then return {'not_found', target} end
  redis.call('SET', target_access_key, 'removed', 'EX', removed_seconds)
  redis.call('HDEL', members_key, target_id)
  return {'ok', target}
end
if action == 'ban' then
  if target ~= 'banned' then
    if tonumber(redis.call('HGET', info_key, 'bans') or '0') >= tonumber(max_bans) then
      return {'full', target}
    end
    redis.call('HINCRBY', info_key, 'bans', 1)
  end
  redis.call('SET', target_access_key, 'banned')
  redis.call('HDEL', members_key, target_id)
  return {'ok', target}
end
if action == 'unban' then
  if target ~= 'banned' then return {'not_found', target} end
  redis.call('DEL', target_access_key)
  if tonumber(redis.call('HGET', info_key, 'bans') or '0') > 0 then
    redis.call('HINCRBY', info_key, 'bans', -1)
  end
  return {'ok', target}
end
return {'invalid', target}
