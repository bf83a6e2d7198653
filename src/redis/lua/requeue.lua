#!lua flags=allow-oom
--[[
  requeue: give leased ids back to their priority's ready set, each only if its owner still holds it: a
  retry after its back-off, or claimed ids the worker could not start (MySQL did not answer), at once.
  An id of a limited task gives back its slot (its next claim takes one again), and the first id
  waiting on that task goes back to ready.

  KEYS[1] ready           sorted set, score = epoch ms the id may run (priority 0)
  KEYS[2] inflight        sorted set, score = lease deadline
  KEYS[3] inflight:owner  hash id -> owner
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5..13] ready:p1 … ready:p9
  KEYS[14] limited        hash id -> taskId (limits.lib)
  ARGV[1] wake channel, PUBLISHed to when anything was requeued (the message: `<KEYS[14]> <priority>
          <score>`, as enqueue.lua's)
  ARGV[2..] quadruples: id, owner, delayMs, priority 0-9

  Returns: the number of ids requeued.
  OOM: allowed (an id moves from one set to the other). Safe to run twice.
]]
--#include limits.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limited = redis.call('HLEN', KEYS[14]) > 0
local prefix = limPrefix(KEYS[14])
local function readyKeyOf(p) return p > 0 and KEYS[4 + p] or KEYS[1] end
local n = 0
local topP = -1
local topScore = 0
for i = 2, #ARGV, 4 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[3], id) == ARGV[i + 1] and redis.call('ZSCORE', KEYS[2], id) then
    local p = tonumber(ARGV[i + 3])
    local score = now + tonumber(ARGV[i + 2])
    redis.call('ZADD', readyKeyOf(p), score, id)
    if p > topP or (p == topP and score < topScore) then
      topP = p
      topScore = score
    end
    redis.call('ZREM', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    redis.call('HDEL', KEYS[4], id)
    if limited then limFree(prefix, id, false, readyKeyOf) end
    n = n + 1
  end
end
if n > 0 then
  redis.call('PUBLISH', ARGV[1], KEYS[14] .. ' ' .. topP .. ' ' .. string.format('%d', topScore))
end
return n
