#!lua flags=allow-oom
--[[
  expireOrphans: the leases of members that are gone (their heartbeat key expired, or they left) are
  made expired now, so the reaper hands their tasks out at once instead of after a whole lease.
  Leases younger than `minAgeMs` are left alone (a member claims only after its first heartbeat, but a
  key lost with a Redis restart comes back only with the member's next beat).
  The heartbeats are read by the caller (leaseHolders.lua, then the heartbeat keys): they live in
  another slot of a Redis Cluster than the queue (src/redis/keys.ts), and a script touches one slot.
  Fenced: only the holder of the leader lease may do it.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner (`memberId|token`)
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  KEYS[4] leader          the leader lease
  ARGV[1] the caller's leader lock value
  ARGV[2] minAgeMs
  ARGV[3..] the member ids found gone

  Returns: the number of leases expired; an error NOTLEADER when the caller does not hold the lease.
  OOM: allowed (only scores change). Safe to run twice.
]]
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER the leader lease is not held by the caller')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local oldest = now - tonumber(ARGV[2])
local gone = {}
for i = 3, #ARGV do
  gone[ARGV[i]] = true
end
local n = 0
local owners = redis.call('HGETALL', KEYS[2])
for i = 1, #owners, 2 do
  local id = owners[i]
  local member = string.match(owners[i + 1], '^(.*)|') or owners[i + 1]
  if gone[member] then
    local since = tonumber(redis.call('HGET', KEYS[3], id) or '0')
    local score = redis.call('ZSCORE', KEYS[1], id)
    if since <= oldest and score and tonumber(score) >= now then
      redis.call('ZADD', KEYS[1], 'XX', now - 1, id)
      n = n + 1
    end
  end
end
return n
