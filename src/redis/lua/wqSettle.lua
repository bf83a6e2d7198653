#!lua flags=allow-oom
--[[
  wqSettle: after the reaper has decided expired leases in MySQL, take them out of the queue's leases —
  each only if it is still the very lease listed (same token, same deadline: an expired lease is never
  extended) — and put those to run again back in ready.

  KEYS[1] {wq:<queue>}:ready   sorted set
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline
  KEYS[3] {wq:<queue>}:owner   hash id -> lease token
  KEYS[4] {wq:<queue>}:since   hash id -> leased-at epoch ms
  KEYS[5] {wq:<queue>}:limited hash id -> taskId (wqLimits.lib): a limited id gives back its slot, which
                               goes to the first id waiting on the task's limits at once
  ARGV[1] wake channel, PUBLISHed "<queue> <count>" when anything was requeued
  ARGV[2] the queue name
  ARGV[3..] quadruples: id, token ('' if unknown), leaseDeadline, '1' to requeue or '0' to drop

  Returns: the number of leases settled.
  OOM: allowed (ids move or go). Safe to run twice (the second run finds the leases gone).
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local prefix = limPrefix(KEYS[5])
local anyLimited = redis.call('HLEN', KEYS[5]) > 0
local function readyKeyOf() return KEYS[1] end
local n = 0
local requeued = 0
for i = 3, #ARGV, 4 do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[2], id)
  if score and tonumber(score) == tonumber(ARGV[i + 2]) and (redis.call('HGET', KEYS[3], id) or '') == ARGV[i + 1] then
    if anyLimited then requeued = requeued + limFree(prefix, id, ARGV[i + 3] ~= '1', readyKeyOf) end
    if ARGV[i + 3] == '1' then
      redis.call('ZADD', KEYS[1], 'NX', now, id)
      requeued = requeued + 1
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    n = n + 1
  end
end
if requeued > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. requeued)
end
return n
