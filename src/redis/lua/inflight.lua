#!lua flags=no-writes
--[[
  inflight: list up to `limit` leased ids, earliest lease deadline first.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1] limit (> 0)

  Returns: flat list id, owner, claimedAt, leaseDeadline, ... (owner/claimedAt false if missing).
]]
local entries = redis.call('ZRANGE', KEYS[1], 0, tonumber(ARGV[1]) - 1, 'WITHSCORES')
local out = {}
for i = 1, #entries, 2 do
  local id = entries[i]
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
  out[#out + 1] = redis.call('HGET', KEYS[3], id)
  out[#out + 1] = entries[i + 1]
end
return out
