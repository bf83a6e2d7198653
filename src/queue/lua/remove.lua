#!lua flags=allow-oom
--[[
  remove: drop ids from the ready sets and inflight (cancel), with their owner/claimed-at entries.

  KEYS[1] ready           sorted set
  KEYS[2] inflight        sorted set
  KEYS[3] inflight:owner  hash id -> owner
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  KEYS[5..13] ready:p1 … ready:p9
  ARGV[1..] ids

  Returns: the number of ids that were present in ready or inflight.
  OOM: allowed (it only deletes).
]]
local removed = 0
for _, id in ipairs(ARGV) do
  local n = redis.call('ZREM', KEYS[1], id) + redis.call('ZREM', KEYS[2], id)
  for k = 5, #KEYS do n = n + redis.call('ZREM', KEYS[k], id) end
  redis.call('HDEL', KEYS[3], id)
  redis.call('HDEL', KEYS[4], id)
  if n > 0 then removed = removed + 1 end
end
return removed
