--[[
  ack: release a claimed id if `owner` still holds it; optionally put it back in ready (retry).

  KEYS[1] ready           sorted set, score = epoch ms the id may run
  KEYS[2] inflight        sorted set, score = lease deadline
  KEYS[3] inflight:owner  hash id -> owner
  KEYS[4] inflight:since  hash id -> claimed-at epoch ms
  ARGV[1] id
  ARGV[2] owner
  ARGV[3] requeue delay in ms, or '' for a plain ack
  ARGV[4] wake channel, PUBLISHed to when the id is requeued

  Returns: 1 when acked, 0 when `owner` does not hold the id (lease lost or never held).
]]
local id = ARGV[1]
if redis.call('HGET', KEYS[3], id) ~= ARGV[2] or not redis.call('ZSCORE', KEYS[2], id) then
  return 0
end
redis.call('ZREM', KEYS[2], id)
redis.call('HDEL', KEYS[3], id)
redis.call('HDEL', KEYS[4], id)
if ARGV[3] ~= '' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), id)
  redis.call('PUBLISH', ARGV[4], 'requeue')
end
return 1
