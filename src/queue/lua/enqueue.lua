#!lua
--[[
  enqueue: add task-instance ids to their priority's ready set, each due after its own delay, and wake
  idle workers.

  KEYS[1] ready     sorted set, score = epoch ms (Redis clock) the id may run (priority 0)
  KEYS[2] inflight  sorted set, score = lease deadline
  KEYS[3..11] ready:p1 … ready:p9, as KEYS[1] for priorities 1-9
  ARGV[1] wake channel (pub/sub) to PUBLISH on when anything was added
  ARGV[2..] triples: id, delayMs (relative to now; may be negative to back-date an item), priority 0-9

  An id already in a ready set (ZADD NX on its priority's set) or in inflight is left where it is.
  Returns: the number of ids added.
  OOM: refused as a whole (new entries); the rows stay PENDING in MySQL and the reconciler enqueues them.
  Safe to run twice.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  local p = tonumber(ARGV[i + 2])
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', p > 0 and KEYS[2 + p] or KEYS[1], 'NX', now + tonumber(ARGV[i + 1]), id)
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], 'enqueue')
end
return added
