--[[
  Who counts as an active admin, for the scripts on the list of accounts. Include it after
  binding accounts_key, admins_key, deactivated_key, pending_key and admin_ids (the ids that
  ADMIN_USERNAMES names).
  An active admin is a listed account, not pending, not deactivated, and in the admins set or
  among admin_ids. "Never without an active admin" is decided in the same step as the change
  it guards, and so is the acting admin's own standing: two admins demoting, deactivating or
  deleting each other at once cannot both succeed, and an admin demoted or deactivated a
  moment ago cannot still act.
]]
local function active(id)
  return redis.call('ZSCORE', accounts_key, id) ~= false and redis.call('ZSCORE', pending_key, id) == false
    and redis.call('SISMEMBER', deactivated_key, id) == 0
end
local function isActiveAdmin(id)
  if not active(id) then return false end
  if redis.call('SISMEMBER', admins_key, id) == 1 then return true end
  for _, admin in ipairs(admin_ids) do if admin == id then return true end end
  return false
end
local function otherActiveAdmins(except)
  local seen, n = {}, 0
  local function consider(id)
    if id ~= except and not seen[id] and active(id) then n = n + 1 end
    seen[id] = true
  end
  for _, id in ipairs(redis.call('SMEMBERS', admins_key)) do consider(id) end
  for _, id in ipairs(admin_ids) do consider(id) end
  return n
end
local function isLast(id)
  return isActiveAdmin(id) and otherActiveAdmins(id) == 0
end
