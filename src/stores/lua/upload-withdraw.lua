--[[
  An upload taken off the message being written, by its uploader, before it was sent: the
  offer is deleted, unless a send took it first (or it expired, or is someone else's). 1 when
  withdrawn, else 0.

  KEYS[1] upload_key  the upload's offer
  ARGV[1] user_id  who withdraws it
]]
local upload_key = KEYS[1]
local user_id = ARGV[1]
local upload = redis.call('GET', upload_key)
if not upload or string.sub(upload, 1, #user_id + 1) ~= user_id .. '|' then return 0 end
redis.call('DEL', upload_key)
return 1
