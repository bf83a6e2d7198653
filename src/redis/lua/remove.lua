#!lua flags=allow-oom
--[[
  remove: drop ids from the ready sets and inflight (cancel), with their owner/claimed-at entries.

  KEYS[1] ready           sorted set
  KEYS[2] inflight        sorted set
  KEYS[3] inflight:owner  hash id -> owner
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5..13] ready:p1 … ready:p9
  KEYS[14] limited        hash id -> taskId (limits.lib): a limited task's id leaves its waiting set and slot
  ARGV[1] wake channel, PUBLISHed to when a freed slot sent a waiting id back to ready (the message:
          KEYS[14], naming the shard)
  ARGV[2..] ids

  Returns: the ids that were present in a ready set, inflight or their task's waiting set (a queue of
  several shards looks for the others in the other shards).
  OOM: allowed (it only deletes).
]]
--#include limits.lib
local limited = redis.call('HLEN', KEYS[14]) > 0
local prefix = limPrefix(KEYS[14])
local function readyKeyOf(p) return p > 0 and KEYS[4 + p] or KEYS[1] end
local removed = {}
local moved = 0
for i = 2, #ARGV do
  local id = ARGV[i]
  local n = redis.call('ZREM', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
  for k = 5, 13 do n = n + redis.call('ZREM', KEYS[k], id) end
  if limited then
    local task = redis.call('HGET', KEYS[14], id)
    if task then
      local _, _, w = limKeys(prefix, task)
      if redis.call('ZSCORE', w, id) then n = n + 1 end
    end
    moved = moved + limFree(prefix, id, true, readyKeyOf)
  end
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  if n > 0 then removed[#removed + 1] = id end
end
if moved > 0 then
  redis.call('PUBLISH', ARGV[1], KEYS[14])
end
return removed
