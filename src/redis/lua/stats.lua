#!lua flags=no-writes
--[[
  stats: queue sizes, read at one instant of the Redis clock.

  KEYS[1] ready     sorted set, score = epoch ms the id may run (priority 0)
  KEYS[2] inflight  sorted set
  KEYS[3..11] ready:p1 … ready:p9
  (no ARGV)

  Returns: { ready, dueNow, inflight, oldestWaitingMs } (ready and dueNow over every priority) where
  oldestWaitingMs is how long the earliest due-but-unclaimed id has been due (0 when none is due).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ready = 0
local dueNow = 0
local oldest = 0
for k = 1, #KEYS do
  if k ~= 2 then
    ready = ready + redis.call('ZCARD', KEYS[k])
    dueNow = dueNow + redis.call('ZCOUNT', KEYS[k], '-inf', now)
    local first = redis.call('ZRANGE', KEYS[k], 0, 0, 'WITHSCORES')
    if first[2] and tonumber(first[2]) <= now then
      oldest = math.max(oldest, now - tonumber(first[2]))
    end
  end
end
local inflight = redis.call('ZCARD', KEYS[2])
return { ready, dueNow, inflight, oldest }
