#!lua
--[[
  leaseLimited: lease.lua for task instances of tasks with limits that a worker created RUNNING for
  itself (continuation): each takes a slot and counts a start of its task first (limits.lib), as a claim
  would; one its task's limits refuse now is not leased, and is answered back so the worker hands it back
  to the queue (PENDING again) instead of running it.
  Hand-over: the runs whose results the same worker has just committed (ARGV[4..]) give back their slots
  first, if their leases are still the worker's — their acks are on their way, and would otherwise come
  after this script, so a flow's next step of the same task would be refused the slot its previous step
  held. A slot so freed that no continued run takes goes to the first waiting id, as an ack would.

  KEYS[1] inflight        sorted set, score = lease deadline epoch ms
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  KEYS[4] limited         hash id -> taskId (limits.lib)
  KEYS[5] ready           sorted set (priority 0)
  KEYS[6..14] ready:p1 … ready:p9
  ARGV[1] owner
  ARGV[2] leaseMs
  ARGV[3] wake channel, PUBLISHed to when waiting ids went back to ready
  ARGV[4] k, the number of finished runs that follow
  ARGV[5..4+2k] pairs: id, owner of a finished run (its result committed)
  ARGV[5+2k..] pairs: id, taskId

  Returns: the ids refused (not leased).
  OOM: refused as a whole (new entries). Run twice: an id the owner already holds keeps its slot (it is
  admitted again without a second slot; a rate window may count it twice); a finished run's slot is
  already free.
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[2])
local prefix = limPrefix(KEYS[4])
local function readyKeyOf(p) return p > 0 and KEYS[4 + p] or KEYS[5] end
local k = tonumber(ARGV[4])
local freedTasks = {}
for i = 5, 4 + 2 * k, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[i + 1] then
    local task = redis.call('HGET', KEYS[4], id)
    if task then
      local slots = limKeys(prefix, task)
      if redis.call('SREM', slots, id) == 1 then freedTasks[task] = true end
    end
  end
end
local refused = {}
for i = 5 + 2 * k, #ARGV, 2 do
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
-- Slots handed over but not taken: to the waiting ids, as far as the limits allow now.
local moved = 0
for task in pairs(freedTasks) do
  local c = limOf(prefix, task)
  if c and c > 0 then
    local slots = limKeys(prefix, task)
    moved = moved + limRelease(prefix, task, c - redis.call('SCARD', slots), readyKeyOf)
  end
end
if moved > 0 then
  redis.call('PUBLISH', ARGV[3], 'limit')
end
return refused
