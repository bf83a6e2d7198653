#!lua
--[[
  leaseLimited: lease.lua for task instances of tasks with limits that a worker created RUNNING for
  itself (continuation): each takes a slot and counts a start of its task first (limits.lib), as a claim
  would; one its task's limits refuse now is not leased, and is answered back so the worker hands it back
  to the queue (PENDING again) instead of running it.

  KEYS[1] inflight        sorted set, score = lease deadline epoch ms
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  KEYS[4] limited         hash id -> taskId (limits.lib)
  ARGV[1] owner
  ARGV[2] leaseMs
  ARGV[3..] pairs: id, taskId

  Returns: the ids refused (not leased).
  OOM: refused as a whole (new entries). Run twice: an id the owner already holds keeps its slot (it is
  admitted again without a second slot; a rate window may count it twice).
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local prefix = limPrefix(KEYS[4])
local refused = {}
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  local task = ARGV[i + 1]
  local held = redis.call('HGET', KEYS[2], id)
  if held == ARGV[1] then
    -- ours already (a resent command)
  elseif held then
    -- leased by another owner: left alone, as lease.lua does
  else
    local go = true
    if redis.call('HEXISTS', prefix .. 'limits', task) == 1 then
      redis.call('HSET', KEYS[4], id, task)
      go = limAdmit(prefix, task, id, now)
    end
    if go then
      redis.call('ZADD', KEYS[1], deadline, id)
      redis.call('HSET', KEYS[2], id, ARGV[1])
      redis.call('HSET', KEYS[3], id, now)
    else
      refused[#refused + 1] = id
    end
  end
end
return refused
