--[[
  takeExpired: remove up to `max` ids whose lease deadline has passed (score < now) from inflight.
  The caller (the reaper) then requeues them (enqueue) or fails them.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1] max (> 0)

  Returns: flat list id, owner, claimedAt, leaseDeadline, id, owner, ... (earliest deadline first;
  owner/claimedAt are false when the hash lost them).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[1]))
local out = {}
for i = 1, #expired, 2 do
  local id = expired[i]
  out[#out + 1] = id
  out[#out + 1] = redis.call('HGET', KEYS[2], id)
  out[#out + 1] = redis.call('HGET', KEYS[3], id)
  out[#out + 1] = expired[i + 1]
  redis.call('ZREM', KEYS[1], id)
  redis.call('HDEL', KEYS[2], id)
  redis.call('HDEL', KEYS[3], id)
end
return out
