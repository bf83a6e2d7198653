#!lua flags=allow-oom
--[[
  takeReady: take ids out of a shard's ready sets, to be enqueued in another shard (a task that has just
  got limits: its queued ids move to its own shard, where its limits are applied; queue/workQueue.ts
  markLimited). An id in flight is left where it is (its run goes on; it held no slot).

  KEYS[1] ready     sorted set (priority 0)
  KEYS[2..10] ready:p1 … ready:p9
  ARGV[1..] ids

  Returns: flat list id, priority, delayMs (its score - now: when it is due, relative), ... for the ids
  taken. OOM: allowed (it only deletes). Run twice: the second run finds nothing; the ids the first run
  took are in their new shard, or (the caller lost between the two steps) enqueued again by the reconciler.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out = {}
for _, id in ipairs(ARGV) do
  for p = 0, 9 do
    local key = KEYS[p + 1]
    local score = redis.call('ZSCORE', key, id)
    if score then
      redis.call('ZREM', key, id)
      out[#out + 1] = id
      out[#out + 1] = p
      out[#out + 1] = tonumber(score) - now
      break
    end
  end
end
return out
