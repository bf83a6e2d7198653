--[[
  unlockFlows: release coordinator locks this holder still holds, and report which instances were
  marked dirty meanwhile (someone finished work while we held the lock: we must advance again).

  KEYS[1..n]    lock:flow-ins:{fiId}
  KEYS[n+1..2n] dirty:flow-ins:{fiId}, in the same order
  ARGV[1] lock value we hold

  Returns: the 1-based positions of the instances that are marked dirty.
]]
local n = #KEYS / 2
local dirty = {}
for i = 1, n do
  if redis.call('GET', KEYS[i]) == ARGV[1] then
    redis.call('DEL', KEYS[i])
  end
  if redis.call('EXISTS', KEYS[n + i]) == 1 then
    dirty[#dirty + 1] = i
  end
end
return dirty
