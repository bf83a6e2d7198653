#!lua flags=no-writes
--[[
  stats: queue sizes, read at one instant of the Redis clock.

  KEYS[1] ready     sorted set, score = epoch ms the id may run
  KEYS[2] inflight  sorted set
  (no ARGV)

  Returns: { ready, dueNow, inflight, oldestWaitingMs } where oldestWaitingMs is how long the
  earliest due-but-unclaimed id has been due (0 when none is due).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ready = redis.call('ZCARD', KEYS[1])
local dueNow = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local inflight = redis.call('ZCARD', KEYS[2])
local oldest = 0
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] and tonumber(first[2]) <= now then
  oldest = now - tonumber(first[2])
end
return { ready, dueNow, inflight, oldest }
