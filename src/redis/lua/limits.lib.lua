--[[
  limits.lib: flow control shared by the queue scripts (issue 18): a task's concurrency limit and rate
  limit. Not a script of its own: scripts.ts puts this text where a script says `--#include limits.lib`.

  Keys (under the prefix; the per-task ones carry the hash tag {task:<taskId>}):
    {prefix}limited              hash tiId -> taskId: the task instances of limited tasks (passed as a KEY;
                                 the prefix is read off its name)
    {prefix}limits               hash taskId -> "concurrency:rateMax:ratePerMs" (0 = none), from MySQL
    {prefix}limits:waiting       set of taskIds whose waiting set may hold ids
    {prefix}{task:<id>}:slots    set of tiIds holding one of the task's concurrency slots (claim → ack/reap)
    {prefix}{task:<id>}:rate     sorted set of the task's starts within its rate window (member id:ms)
    {prefix}{task:<id>}:waiting  sorted set of due tiIds waiting on the task's limits,
                                 score = (9 - priority) * 1e13 + the ready score (priority first, then FIFO)
  The per-task keys are named here from the task id (standalone Redis allows keys a script did not
  declare; see README "Flow control" for what a Redis Cluster port does with them).
  Cost when no task has limits: one HLEN of {prefix}limited per script run.
]]
local LIM_P = 1e13

local function limPrefix(limitedKey)
  return string.sub(limitedKey, 1, #limitedKey - 7)
end

local function limKeys(prefix, task)
  local base = prefix .. '{task:' .. task .. '}:'
  return base .. 'slots', base .. 'rate', base .. 'waiting'
end

-- The task's limits: concurrency, rateMax, ratePerMs (0 = none), or nil when it has none.
local function limOf(prefix, task)
  local v = redis.call('HGET', prefix .. 'limits', task)
  if not v then return nil end
  local c, m, per = string.match(v, '^(%d+):(%d+):(%d+)$')
  if not c then return nil end
  return tonumber(c), tonumber(m), tonumber(per)
end

-- May the id of this task start now? If so its slot is taken and its start counted.
local function limAdmit(prefix, task, id, now)
  local c, m, per = limOf(prefix, task)
  if not c then return true end
  local slots, rate = limKeys(prefix, task)
  if c > 0 and redis.call('SISMEMBER', slots, id) == 0 and redis.call('SCARD', slots) >= c then return false end
  if m > 0 then
    redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - per)
    if redis.call('ZCARD', rate) >= m then return false end
    redis.call('ZADD', rate, now, id .. ':' .. now)
    redis.call('PEXPIRE', rate, per + 1000)
  end
  if c > 0 then redis.call('SADD', slots, id) end
  return true
end

-- Puts a due id (from the ready set of priority p, with that score) in its task's waiting set.
local function limWait(prefix, task, id, p, score)
  local _, _, waiting = limKeys(prefix, task)
  redis.call('ZADD', waiting, (9 - p) * LIM_P + score, id)
  redis.call('SADD', prefix .. 'limits:waiting', task)
end

-- Moves up to n of the task's waiting ids (the first in line) back to their ready sets, where they keep
-- their place; readyKeyOf(p) names the ready set of priority p. Returns how many moved.
local function limRelease(prefix, task, n, readyKeyOf)
  if n < 1 then return 0 end
  local _, _, waiting = limKeys(prefix, task)
  local heads = redis.call('ZRANGE', waiting, 0, n - 1, 'WITHSCORES')
  for i = 1, #heads, 2 do
    local s = tonumber(heads[i + 1])
    local p = 9 - math.floor(s / LIM_P)
    redis.call('ZADD', readyKeyOf(p), s - (9 - p) * LIM_P, heads[i])
    redis.call('ZREM', waiting, heads[i])
  end
  return #heads / 2
end

-- The id gives back its slot, if it holds one; `done`: it leaves the limited ids for good (recorded,
-- dropped, cancelled). A freed slot goes to the first waiting id at once. Returns how many ids moved
-- to ready (0 or 1).
local function limFree(prefix, id, done, readyKeyOf)
  local task = redis.call('HGET', prefix .. 'limited', id)
  if not task then return 0 end
  local slots, _, waiting = limKeys(prefix, task)
  local held = redis.call('SREM', slots, id)
  if done then
    redis.call('HDEL', prefix .. 'limited', id)
    redis.call('ZREM', waiting, id)
  end
  if held == 1 then return limRelease(prefix, task, 1, readyKeyOf) end
  return 0
end
