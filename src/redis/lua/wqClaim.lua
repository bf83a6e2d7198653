#!lua flags=allow-oom
--[[
  wqClaim: lease up to #tokens due ids of one queue (earliest due first), each under a token of its
  own, for a worker's poll. The lease is provisional (ARGV[1]): the member sets each task's own leaseMs
  once it has marked it RUNNING in MySQL (wqExtend.lua).

  Flow control (issue 18) for WORKER tasks: a task's concurrencyLimit and rateLimit are applied here, in
  the queue's own slot, with limits.lib on keys named after {wq:<queue>}:limited — so they are
  <p>{wq:<queue>}:limits (the queue's copy of the limits), <p>{wq:<queue>}:{task:<id>}:slots|rate|waiting
  and <p>{wq:<queue>}:limits:waiting, all in this queue's slot (the first tag counts). A task's WORKER
  instances all go to the task's one queue, so its slots here are all there are, cluster-wide. A due id
  its task's limits refuse now leaves ready for the task's waiting set (keeping its place in line); a
  slot given back (wqRelease, wqSettle) moves the first waiting id back to ready at once, and this
  script first moves back what the clock let through (a rate window that opened, a limit raised).

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline epoch ms
  KEYS[3] {wq:<queue>}:owner   hash id -> lease token
  KEYS[4] {wq:<queue>}:since   hash id -> leased-at epoch ms
  KEYS[5] {wq:<queue>}:limited hash id -> taskId: ids of limited tasks
  ARGV[1] provisional leaseMs
  ARGV[2..] tokens, one per id that may be taken (their number is the most taken)

  Returns: { nextDueInMs (-1 when nothing is due later), { id, token, id, token, ... } }; nextDueInMs
  also counts when a rate window lets a waiting id through.
  Cost when the queue has no limited ids: one HLEN.
  OOM: allowed (ids move from one set to the other). Run twice (a resent command): the second run takes
  other ids under the same tokens; the first run's stay leased to a poll nobody answers, and come back
  through the reaper when their provisional lease runs out (their slots with them).
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local max = #ARGV - 1
local prefix = limPrefix(KEYS[5])
local anyLimited = redis.call('HLEN', KEYS[5]) > 0
local function readyKeyOf() return KEYS[1] end
local nextDue = -1
local function dueIn(ms)
  if ms < 0 then ms = 0 end
  if nextDue < 0 or ms < nextDue then nextDue = ms end
end

if anyLimited then
  -- What the clock let through since: as limitPump.lua does for the members' queue.
  local index = prefix .. 'limits:waiting'
  for _, task in ipairs(redis.call('SMEMBERS', index)) do
    local slots, rate, waiting = limKeys(prefix, task)
    local n = redis.call('ZCARD', waiting)
    if n == 0 then
      redis.call('SREM', index, task)
    else
      local room = math.min(n, max)
      local c, m, per = limOf(prefix, task)
      if c then
        if c > 0 then room = math.min(room, c - redis.call('SCARD', slots)) end
        if m > 0 then
          redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - per)
          local free = m - redis.call('ZCARD', rate)
          if free <= 0 then
            local oldest = redis.call('ZRANGE', rate, 0, 0, 'WITHSCORES')
            if oldest[2] then dueIn(tonumber(oldest[2]) + per - now + 1) end
          end
          room = math.min(room, free)
        end
      end
      limRelease(prefix, task, room, readyKeyOf)
    end
  end
end

local out = {}
local taken = 0
local refusedTasks = {}
-- Refused ids leave ready, so each look starts at the head again; bounded for a long line of refusals.
for _ = 1, 20 do
  if taken >= max then break end
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'WITHSCORES', 'LIMIT', 0, max - taken)
  if #ids == 0 then break end
  for i = 1, #ids, 2 do
    local id = ids[i]
    local go = true
    local task = anyLimited and redis.call('HGET', KEYS[5], id)
    if task and not limAdmit(prefix, task, id, now) then
      go = false
      limWait(prefix, task, id, 0, tonumber(ids[i + 1]))
      refusedTasks[task] = true
      redis.call('ZREM', KEYS[1], id)
    end
    if go then
      taken = taken + 1
      local token = ARGV[taken + 1]
      redis.call('ZADD', KEYS[2], deadline, id)
      redis.call('HSET', KEYS[3], id, token)
      redis.call('HSET', KEYS[4], id, now)
      redis.call('ZREM', KEYS[1], id)
      out[#out + 1] = id
      out[#out + 1] = token
    end
  end
end
-- A task refused by its rate window: the poll looks again when the window lets the next one through.
for task in pairs(refusedTasks) do
  local c, m, per = limOf(prefix, task)
  if c and m > 0 then
    local _, rate = limKeys(prefix, task)
    if redis.call('ZCARD', rate) >= m then
      local oldest = redis.call('ZRANGE', rate, 0, 0, 'WITHSCORES')
      if oldest[2] then dueIn(tonumber(oldest[2]) + per - now + 1) end
    end
  end
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  dueIn(tonumber(first[2]) - now)
end
return { nextDue, out }
