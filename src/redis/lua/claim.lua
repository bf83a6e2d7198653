#!lua flags=allow-oom
--[[
  claim: atomically lease up to `max` due ids (score <= now, earliest score first) from `ready`.

  KEYS[1] ready           sorted set, score = epoch ms the id may run
  KEYS[2] inflight        sorted set, score = lease deadline epoch ms
  KEYS[3] inflight:owner  hash id -> owner (`memberId|claimToken`)
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1] owner
  ARGV[2] max (> 0)
  ARGV[3] leaseMs

  Returns: { nextDueInMs, { id, ... } } where nextDueInMs is the ms until the earliest id left in
  ready comes due (0 when due now) or -1 when ready is empty.
  OOM: allowed (an id moves from one set to the other; memory does not grow by it).
  Run twice (a resent command): the second run claims other ids; the first run's ids stay leased to an
  owner token nobody uses, and come back through the reaper when that lease expires.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[3])
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[2], deadline, id)
  redis.call('HSET', KEYS[3], id, ARGV[1])
  redis.call('HSET', KEYS[4], id, now)
  redis.call('ZREM', KEYS[1], id)
end
local nextDue = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  nextDue = math.max(0, tonumber(first[2]) - now)
end
return { nextDue, ids }
