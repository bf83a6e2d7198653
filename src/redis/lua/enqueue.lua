#!lua
--[[
  enqueue: add task-instance ids to their priority's ready set, each due after its own delay, and wake
  idle workers. An id of a task with limits is listed in `limited` (the claim then applies them).

  KEYS[1] ready     sorted set, score = epoch ms (Redis clock) the id may run (priority 0)
  KEYS[2] inflight  sorted set, score = lease deadline
  KEYS[3..11] ready:p1 … ready:p9, as KEYS[1] for priorities 1-9
  KEYS[12] limited  hash id -> taskId (limits.lib)
  ARGV[1] wake channel (pub/sub) to PUBLISH on when anything was added; the message is
          `<KEYS[12]> <priority> <score>`: the shard, the highest priority added and its earliest score
  ARGV[2] this shard's number, ARGV[3] the number of shards (1: the queue is one shard)
  ARGV[4..] quadruples: id, delayMs (relative to now; may be negative to back-date an item), priority 0-9,
            taskId ('' when not known: the id is then taken as one of a task without limits)

  An id already in a ready set (ZADD NX on its priority's set), in inflight or waiting on its task's
  limits is left where it is. An id of a task with limits (this shard's copy of the table says so) whose
  task lives in another shard (taskId mod shards) is not added: it is answered back, for the caller to
  enqueue there (a task's limit keys are in its shard's slot, and its ids must be claimed there).
  Returns: { the number of ids added, { ids to enqueue in their task's shard, ... } }.
  OOM: refused as a whole (new entries); the rows stay PENDING in MySQL and the reconciler enqueues them.
  Safe to run twice.
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = limPrefix(KEYS[12])
local anyLimits = redis.call('HLEN', prefix .. 'limits') > 0
local shard = tonumber(ARGV[2])
local shards = tonumber(ARGV[3])
local added = 0
local elsewhere = {}
local topP = -1
local topScore = 0
for i = 4, #ARGV, 4 do
  local id = ARGV[i]
  local p = tonumber(ARGV[i + 2])
  local task = ARGV[i + 3]
  if not redis.call('ZSCORE', KEYS[2], id) then
    local skip = false
    if anyLimits and task ~= '' and redis.call('HEXISTS', prefix .. 'limits', task) == 1 then
      if tonumber(task) % shards ~= shard then
        elsewhere[#elsewhere + 1] = id
        skip = true
      else
        redis.call('HSET', KEYS[12], id, task)
        local _, _, w = limKeys(prefix, task)
        skip = redis.call('ZSCORE', w, id)
      end
    end
    if not skip then
      local score = now + tonumber(ARGV[i + 1])
      if redis.call('ZADD', p > 0 and KEYS[2 + p] or KEYS[1], 'NX', score, id) == 1 then
        added = added + 1
        if p > topP or (p == topP and score < topScore) then
          topP = p
          topScore = score
        end
      end
    end
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], KEYS[12] .. ' ' .. topP .. ' ' .. string.format('%d', topScore))
end
return { added, elsewhere }
