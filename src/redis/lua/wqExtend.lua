#!lua flags=allow-oom
--[[
  wqExtend: push leases their token still holds to now + leaseMs (a worker's heartbeat, or the task's own
  lease set after a poll marked it RUNNING). A lease that has expired is not revived: the reaper may be
  deciding about it, so it counts as lost.

  KEYS[1] {wq:<queue>}:leases  sorted set, score = lease deadline
  KEYS[2] {wq:<queue>}:owner   hash id -> lease token
  ARGV[1..] triples: id, token, leaseMs

  Returns: the positions (1-based triple index) of the leases that are lost (expired, reaped, released,
  or held under another token).
  OOM: allowed (only scores change).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lost = {}
for i = 1, #ARGV, 3 do
  local id = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) >= now and redis.call('HGET', KEYS[2], id) == ARGV[i + 1] then
    redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[i + 2]), id)
  else
    lost[#lost + 1] = (i + 2) / 3
  end
end
return lost
