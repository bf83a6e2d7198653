#!lua
--[[
  enqueue: add task-instance ids to `ready`, each due after its own delay, and wake idle workers.

  KEYS[1] ready     sorted set, score = epoch ms (Redis clock) the id may run
  KEYS[2] inflight  sorted set, score = lease deadline
  ARGV[1] wake channel (pub/sub) to PUBLISH on when anything was added
  ARGV[2..] pairs: id, delayMs (relative to now; may be negative to back-date an item)

  An id already in ready (ZADD NX) or in inflight is left where it is.
  Returns: the number of ids added.
  OOM: refused as a whole (new entries); the rows stay PENDING in MySQL and the reconciler enqueues them.
  Safe to run twice.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[i + 1]), id)
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], 'enqueue')
end
return added
