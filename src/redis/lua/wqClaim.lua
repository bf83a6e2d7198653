#!lua flags=allow-oom
--[[
  wqClaim: lease up to #tokens due ids of one queue (earliest due first), each under a token of its
  own, for a worker's poll. The lease is provisional (ARGV[1]): the member sets each task's own leaseMs
  once it has marked it RUNNING in MySQL (wqExtend.lua).

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline epoch ms
  KEYS[3] {wq:<queue>}:owner   hash id -> lease token
  KEYS[4] {wq:<queue>}:since   hash id -> leased-at epoch ms
  ARGV[1] provisional leaseMs
  ARGV[2..] tokens, one per id that may be taken (their number is the most taken)

  Returns: { nextDueInMs (-1 when ready is empty), { id, token, id, token, ... } }.
  OOM: allowed (ids move from one set to the other). Run twice (a resent command): the second run takes
  other ids under the same tokens; the first run's stay leased to a poll nobody answers, and come back
  through the reaper when their provisional lease runs out.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local max = #ARGV - 1
local out = {}
if max > 0 then
  local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, max)
  for i, id in ipairs(ids) do
    local token = ARGV[i + 1]
    redis.call('ZADD', KEYS[2], deadline, id)
    redis.call('HSET', KEYS[3], id, token)
    redis.call('HSET', KEYS[4], id, now)
    redis.call('ZREM', KEYS[1], id)
    out[#out + 1] = id
    out[#out + 1] = token
  end
end
local nextDue = -1
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then
  nextDue = math.max(0, tonumber(first[2]) - now)
end
return { nextDue, out }
