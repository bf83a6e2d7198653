#!lua
--[[
  lease: record in inflight ids that were never in ready: task instances a worker created already
  RUNNING for itself (the continuation of a flow whose previous task it just finished; see
  src/engine/worker.ts). Same entries as claim.lua makes; an id already leased is left alone.

  KEYS[1] inflight        sorted set, score = lease deadline epoch ms
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1] owner
  ARGV[2] leaseMs
  ARGV[3..] ids

  Returns: the number of ids leased to the owner (an id it already holds counts).
  OOM: refused as a whole (new entries). Safe to run twice.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV do
  local id = ARGV[i]
  if redis.call('ZADD', KEYS[1], 'NX', deadline, id) == 1 then
    redis.call('HSET', KEYS[2], id, ARGV[1])
    redis.call('HSET', KEYS[3], id, now)
    n = n + 1
  elseif redis.call('HGET', KEYS[2], id) == ARGV[1] then
    n = n + 1
  end
end
return n
