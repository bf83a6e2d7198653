#!lua flags=allow-oom
--[[
  settleExpired: after the reaper has decided expired leases in MySQL, take them out of `inflight` —
  each only if it is still the very lease that was listed (same owner, same deadline: an expired lease
  is never extended, see extend.lua) — and put the ones to run again back in their priority's ready set.
  Fenced: only the holder of the leader lease may settle.

  KEYS[1] ready           sorted set, score = epoch ms the id may run
  KEYS[2] inflight        sorted set, score = lease deadline
  KEYS[3] inflight:owner  hash id -> owner
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5] leader          the leader lease
  KEYS[6..14] ready:p1 … ready:p9
  KEYS[15] limited        hash id -> taskId (limits.lib): a limited task's settled id gives back its slot
  ARGV[1] the caller's leader lock value
  ARGV[2] wake channel, PUBLISHed to when anything was requeued (the message: KEYS[15], naming the shard)
  ARGV[3..] quintuples: id, owner ('' if unknown), leaseDeadline, '1' to requeue or '0' to drop, priority 0-9

  Returns: the number of leases settled; an error NOTLEADER when the caller does not hold the lease.
  OOM: allowed (ids move or go). Safe to run twice (the second run finds the leases gone).
]]
--#include limits.lib
if redis.call('GET', KEYS[5]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER the leader lease is not held by the caller')
end
local limited = redis.call('HLEN', KEYS[15]) > 0
local prefix = limPrefix(KEYS[15])
local function readyKeyOf(p) return p > 0 and KEYS[5 + p] or KEYS[1] end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = 0
local requeued = 0
for i = 3, #ARGV, 5 do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[2], id)
  if score and tonumber(score) == tonumber(ARGV[i + 2]) and (redis.call('HGET', KEYS[3], id) or '') == ARGV[i + 1] then
    if ARGV[i + 3] == '1' then
      local p = tonumber(ARGV[i + 4])
      redis.call('ZADD', readyKeyOf(p), 'NX', now, id)
      requeued = requeued + 1
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    if limited then requeued = requeued + limFree(prefix, id, ARGV[i + 3] ~= '1', readyKeyOf) end
    n = n + 1
  end
end
if requeued > 0 then
  redis.call('PUBLISH', ARGV[2], KEYS[15])
end
return n
