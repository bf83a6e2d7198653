#!lua flags=no-writes
--[[
  wqStats: one queue's sizes, read at one instant of the Redis clock.

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set
  (no ARGV)

  Returns: { ready, dueNow, leased, oldestWaitingMs } (oldestWaitingMs: how long the earliest due id has
  been waiting, 0 when none is due).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ready = redis.call('ZCARD', KEYS[1])
local dueNow = redis.call('ZCOUNT', KEYS[1], '-inf', now)
local leased = redis.call('ZCARD', KEYS[2])
local oldest = 0
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] and tonumber(first[2]) <= now then
  oldest = now - tonumber(first[2])
end
return { ready, dueNow, leased, oldest }
