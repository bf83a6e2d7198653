#!lua flags=allow-oom
--[[
  wqRelease: end leases their token still holds: dropped (the task's result is recorded, or it is
  cancelled), or given back to the queue's ready set after a delay (a retry's back-off; 0 for a task
  handed back because its poll's client went away).

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline
  KEYS[3] {wq:<queue>}:owner   hash id -> lease token
  KEYS[4] {wq:<queue>}:since   hash id -> leased-at epoch ms
  KEYS[5] {wq:<queue>}:limited hash id -> taskId (wqLimits.lib): a limited id gives back its slot, which
                               goes to the first id waiting on the task's limits at once
  ARGV[1] wake channel, PUBLISHed "<queue> <count>" when anything went back to ready
  ARGV[2] the queue name
  ARGV[3..] triples: id, token, delayMs (-1 = drop)

  Returns: the number of leases ended.
  OOM: allowed (ids move or go). Safe to run twice (the second run finds the leases gone).
]]
--#include limits.lib
--#include leases.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = limPrefix(KEYS[5])
local anyLimited = redis.call('HLEN', KEYS[5]) > 0
local function readyKeyOf() return KEYS[1] end
local n = 0
local requeued = 0
for i = 3, #ARGV, 3 do
  local id = ARGV[i]
  if leaseEnd(KEYS[2], KEYS[3], KEYS[4], id, ARGV[i + 1]) then
    local delay = tonumber(ARGV[i + 2])
    if anyLimited then requeued = requeued + limFree(prefix, id, delay < 0, readyKeyOf) end
    if delay >= 0 then
      redis.call('ZADD', KEYS[1], now + delay, id)
      requeued = requeued + 1
    end
    n = n + 1
  end
end
if requeued > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. requeued)
end
return n
