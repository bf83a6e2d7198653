#!lua
--[[
  lockFlows: try the coordinator locks of many flow instances in one round trip. Same semantics as
  Redlock's single-instance acquire (SET key value NX PX ttl), so it excludes Redlock holders of the
  same keys and vice versa. The value is the caller's own for this one pass.

  KEYS[1..n]    lock:flow-ins:{fiId}
  KEYS[n+1..2n] dirty:flow-ins:{fiId}, in the same order
  ARGV[1] lock value (holder member id | random, new for each pass)
  ARGV[2] lock ttl ms
  ARGV[3] '1' to leave a dirty mark where the lock is taken (the holder re-runs when it releases), '0' not to
  ARGV[4] dirty mark ttl ms

  Returns: a list of 1 (acquired; its dirty mark cleared) or 0 (held by someone else), per flow instance.
  OOM: refused as a whole (new keys): the caller advances nothing and leaves it to the reconciler.
  Safe to run twice: a lock that already holds this value counts as acquired.
]]
local n = #KEYS / 2
local out = {}
for i = 1, n do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) or redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[n + i])
    out[i] = 1
  else
    if ARGV[3] == '1' then
      redis.call('SET', KEYS[n + i], '1', 'PX', ARGV[4])
    end
    out[i] = 0
  end
end
return out
