#!lua flags=allow-oom
--[[
  limitPump: the leader's look at the ids waiting on their tasks' limits (limits.lib), every
  LIMIT_PUMP_MS: moves back to ready as many of each task's waiting ids (the first in line) as its free
  slots and its rate window allow now — a rate window that opens, a limit raised or removed — and drops
  the waiting-set index of tasks with none waiting. A slot is freed at once by whoever frees it (ack,
  requeue, reaper, cancel); this pass is what starts work the clock lets through.
  With ARGV[3] = '1' it also gives back slots held by ids no longer in inflight (left by a step that
  could not finish: e.g. an ack that never reached Redis whose lease was then dropped by hand).

  KEYS[1] ready           sorted set (priority 0)
  KEYS[2..10] ready:p1 … ready:p9
  KEYS[11] limited        hash id -> taskId (limits.lib)
  KEYS[12] inflight       sorted set, score = lease deadline
  ARGV[1] wake channel, PUBLISHed to when ids went back to ready (the message: KEYS[11], naming the shard)
  ARGV[2] most ids moved per task in one pass
  ARGV[3] '1' to give back slots of ids no longer in inflight

  Returns: the number of ids moved back to ready.
  OOM: allowed (ids move between sets). Safe to run twice (the second run finds less room).
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = limPrefix(KEYS[11])
local function readyKeyOf(p) return p > 0 and KEYS[1 + p] or KEYS[1] end
local index = prefix .. 'limits:waiting'
local moved = 0
for _, task in ipairs(redis.call('SMEMBERS', index)) do
  local slots, rate, waiting = limKeys(prefix, task)
  if ARGV[3] == '1' then
    for _, id in ipairs(redis.call('SMEMBERS', slots)) do
      if not redis.call('ZSCORE', KEYS[12], id) then redis.call('SREM', slots, id) end
    end
  end
  local n = redis.call('ZCARD', waiting)
  if n == 0 then
    redis.call('SREM', index, task)
  else
    local room = math.min(n, tonumber(ARGV[2]))
    local c, m, per = limOf(prefix, task)
    if c then
      if c > 0 then room = math.min(room, c - redis.call('SCARD', slots)) end
      if m > 0 then
        redis.call('ZREMRANGEBYSCORE', rate, '-inf', now - per)
        room = math.min(room, m - redis.call('ZCARD', rate))
      end
    end
    moved = moved + limRelease(prefix, task, room, readyKeyOf)
  end
end
if moved > 0 then
  redis.call('PUBLISH', ARGV[1], KEYS[11])
end
return moved
