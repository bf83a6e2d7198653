#!lua flags=allow-oom
--[[
  claim: atomically lease up to `max` due ids (score <= now) from the ready sets: the highest priority's
  first (ready:p9 … ready:p1, then ready = priority 0), earliest score first within one priority.

  KEYS[1] ready           sorted set, score = epoch ms the id may run (priority 0)
  KEYS[2] inflight        sorted set, score = lease deadline epoch ms
  KEYS[3] inflight:owner  hash id -> owner (`memberId|claimToken`)
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5..13] ready:p1 … ready:p9, as KEYS[1] for priorities 1-9 (empty, and so nearly free, unless used)
  ARGV[1] owner
  ARGV[2] max (> 0)
  ARGV[3] leaseMs

  Returns: { nextDueInMs, { id, ... }, { priority, ... } } (each id's priority) where nextDueInMs is the ms until the earliest id left in
  the ready sets comes due (0 when due now) or -1 when they are empty.
  OOM: allowed (an id moves from one set to the other; memory does not grow by it).
  Run twice (a resent command): the second run claims other ids; the first run's ids stay leased to an
  owner token nobody uses, and come back through the reaper when that lease expires.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[3])
local left = tonumber(ARGV[2])
local all = {}
local prios = {}
local nextDue = -1
for p = 9, 0, -1 do
  local key = p > 0 and KEYS[4 + p] or KEYS[1]
  if left > 0 then
    local ids = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, left)
    for _, id in ipairs(ids) do
      redis.call('ZADD', KEYS[2], deadline, id)
      redis.call('HSET', KEYS[3], id, ARGV[1])
      redis.call('HSET', KEYS[4], id, now)
      redis.call('ZREM', key, id)
      all[#all + 1] = id
      prios[#prios + 1] = p
    end
    left = left - #ids
  end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local due = math.max(0, tonumber(first[2]) - now)
    if nextDue < 0 or due < nextDue then nextDue = due end
  end
end
return { nextDue, all, prios }
