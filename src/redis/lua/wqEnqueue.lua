#!lua
--[[
  wqEnqueue: add WORKER task instances to their queue's ready set (external workers poll it), and wake
  the members holding polls on that queue. Every key of one queue shares the hash tag {wq:<queue>}.

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline epoch ms
  KEYS[3] {wq:<queue>}:limited hash id -> taskId: ids of limited tasks (wqLimits.lib)
  ARGV[1] wake channel (`wq:wake`), PUBLISHed "<queue> <count>" when anything was added
  ARGV[2] the queue name
  ARGV[3..] triples: id, delayMs, the task's limits "concurrency:rateMax:ratePerMs" ('' = none) with
            its taskId after a '@' ("2:0:0@17"): the id is listed as limited, and the queue's copy of the
            task's limits written if it has none (the leader keeps an existing copy in step with MySQL:
            a member's view may be a second old)

  Returns: the number of ids added (an id already ready, leased or waiting on its limits is left where it is).
  OOM: refused as a whole (new entries). Safe to run twice (NX, and a leased or waiting id is skipped).
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = limPrefix(KEYS[3])
local added = 0
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) then
    local waiting = false
    local lim = ARGV[i + 2]
    if lim ~= '' then
      local l, task = string.match(lim, '^([%d:]+)@(%d+)$')
      if task then
        redis.call('HSETNX', prefix .. 'limits', task, l)
        redis.call('HSET', KEYS[3], id, task)
        local _, _, w = limKeys(prefix, task)
        waiting = redis.call('ZSCORE', w, id)
      end
    end
    if not waiting then
      added = added + redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[i + 1]), id)
    end
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. added)
end
return added
