#!lua flags=allow-oom
--[[
  claim: atomically lease up to `max` due ids (score <= now) from the ready sets: the highest priority's
  first (ready:p9 … ready:p1, then ready = priority 0), earliest score first within one priority.
  A due id of a task with limits (listed in `limited`) whose task is at its concurrency limit, or has
  used its rate window, is not leased: it goes to its task's waiting set (limits.lib), and the claim
  takes the next one.

  KEYS[1] ready           sorted set, score = epoch ms the id may run (priority 0)
  KEYS[2] inflight        sorted set, score = lease deadline epoch ms
  KEYS[3] inflight:owner  hash id -> owner (`memberId|claimToken`)
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5..13] ready:p1 … ready:p9, as KEYS[1] for priorities 1-9 (empty, and so nearly free, unless used)
  KEYS[14] limited        hash id -> taskId (limits.lib)
  ARGV[1] owner
  ARGV[2] max (> 0)
  ARGV[3] leaseMs

  Returns: { nextDueInMs, { id, ... }, { priority, ... }, topPriority, topScore } (each id's priority)
  where nextDueInMs is the ms until the earliest id left in the ready sets comes due (0 when due now) or
  -1 when they are empty, and topPriority the highest priority with a due id left (-1: none) and
  topScore that id's score (a queue of several shards asks the shard with the most urgent work first).
  OOM: allowed (ids move from one set to another; a limited task's slot and start are a few bytes).
  Run twice (a resent command): the second run claims other ids; the first run's ids stay leased to an
  owner token nobody uses, and come back through the reaper when that lease expires.
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[3])
local left = tonumber(ARGV[2])
local limited = redis.call('HLEN', KEYS[14]) > 0
local prefix = limPrefix(KEYS[14])
local all = {}
local prios = {}
local nextDue = -1
local topP = -1
local topScore = 0
for p = 9, 0, -1 do
  local key = p > 0 and KEYS[4 + p] or KEYS[1]
  -- Ids sent to a waiting set leave room: look again (bounded, so a long line of waiting ids is moved
  -- over several claims rather than in one long script).
  local rounds = 0
  while left > 0 and rounds < 8 do
    rounds = rounds + 1
    local due = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'WITHSCORES', 'LIMIT', 0, left)
    if #due == 0 then break end
    for i = 1, #due, 2 do
      local id = due[i]
      local go = true
      if limited then
        local task = redis.call('HGET', KEYS[14], id)
        if task and not limAdmit(prefix, task, id, now) then
          go = false
          limWait(prefix, task, id, p, tonumber(due[i + 1]))
        end
      end
      redis.call('ZREM', key, id)
      if go then
        redis.call('ZADD', KEYS[2], deadline, id)
        redis.call('HSET', KEYS[3], id, ARGV[1])
        redis.call('HSET', KEYS[4], id, now)
        all[#all + 1] = id
        prios[#prios + 1] = p
        left = left - 1
      end
    end
    if not limited then break end
  end
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  if first[2] then
    local due = math.max(0, tonumber(first[2]) - now)
    if nextDue < 0 or due < nextDue then nextDue = due end
    if due == 0 and topP < 0 then
      topP = p
      topScore = tonumber(first[2])
    end
  end
end
return { nextDue, all, prios, topP, topScore }
