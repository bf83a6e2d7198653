#!lua flags=allow-oom
--[[
  extend: push the lease deadline of ids their owner still holds to now + leaseMs. A lease that has
  already expired is not revived: the reaper may be deciding about it, so it counts as lost.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  ARGV[1] leaseMs
  ARGV[2..] pairs: id, owner

  Returns: the positions (1-based pair index) of the pairs whose lease was lost (expired, taken by the
  reaper, acked, or held by another owner).
  OOM: allowed (only scores change): a worker keeps its leases while Redis refuses new data.
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local deadline = now + tonumber(ARGV[1])
local lost = {}
for i = 2, #ARGV, 2 do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) >= now and redis.call('HGET', KEYS[2], id) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', deadline, id)
  else
    lost[#lost + 1] = i / 2
  end
end
return lost
