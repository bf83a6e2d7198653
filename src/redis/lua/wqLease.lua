#!lua flags=allow-oom
--[[
  wqLease: lease ids of one queue that were never queued: WORKER task instances the transaction that
  recorded a worker's result created RUNNING for it (the continuation, engine/external/handOver.ts),
  each under the token that transaction wrote in its row, for the task's own leaseMs. From here on such
  a lease is a poll's: heartbeats extend it (wqExtend), the result ends it (wqRelease), and the reaper
  takes it back when it runs out (wqExpired, wqSettle).

  KEYS[1] {wq:<queue>}:leases  sorted set, score = lease deadline epoch ms
  KEYS[2] {wq:<queue>}:owner   hash id -> lease token
  KEYS[3] {wq:<queue>}:since   hash id -> leased-at epoch ms
  ARGV[1..] triples: id, token, leaseMs

  Returns: the positions (1-based triple index) of the ids not leased, because a lease on them is there
  already (never for a new id; a resent command finds its own lease and counts it as taken).
  OOM: allowed (the entries are small, and a lease not written leaves its row to the reconciler).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local refused = {}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  if redis.call('ZSCORE', KEYS[1], id) then
    if redis.call('HGET', KEYS[2], id) ~= ARGV[i + 1] then refused[#refused + 1] = (i + 2) / 3 end
  else
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[i + 2]), id)
    redis.call('HSET', KEYS[2], id, ARGV[i + 1])
    redis.call('HSET', KEYS[3], id, now)
  end
end
return refused
