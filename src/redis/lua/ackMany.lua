#!lua flags=allow-oom
--[[
  ackMany: release leased ids, each only if its owner still holds it.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1..] pairs: id, owner

  Returns: the number of ids acked.
  OOM: allowed (it only deletes). Safe to run twice (the second run finds nothing of the owner's).
]]
local n = 0
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  if redis.call('HGET', KEYS[2], id) == ARGV[i + 1] and redis.call('ZREM', KEYS[1], id) == 1 then
    redis.call('HDEL', KEYS[2], id)
    redis.call('HDEL', KEYS[3], id)
    n = n + 1
  end
end
return n
