#!lua flags=allow-oom
--[[
  ackMany: release leased ids, each only if its owner still holds it. An id of a limited task gives
  back its slot, and the first id waiting on that task goes back to ready.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  KEYS[4] ready           sorted set (priority 0)
  KEYS[5..13] ready:p1 … ready:p9
  KEYS[14] limited        hash id -> taskId (limits.lib)
  ARGV[1] wake channel, PUBLISHed to when a waiting id went back to ready (the message: KEYS[14], naming
          the shard)
  ARGV[2..] pairs: id, owner

  Returns: the number of ids acked.
  OOM: allowed (it deletes, or moves ids). Safe to run twice (the second run finds nothing of the owner's).
]]
--#include limits.lib
--#include leases.lib
local limited = redis.call('HLEN', KEYS[14]) > 0
local prefix = limPrefix(KEYS[14])
local function readyKeyOf(p) return p > 0 and KEYS[4 + p] or KEYS[4] end
local n = 0
local moved = 0
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  if leaseEnd(KEYS[1], KEYS[2], KEYS[3], id, ARGV[i + 1]) then
    if limited then moved = moved + limFree(prefix, id, true, readyKeyOf) end
    n = n + 1
  end
end
if moved > 0 then
  redis.call('PUBLISH', ARGV[1], KEYS[14])
end
return n
