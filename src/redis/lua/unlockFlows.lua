#!lua flags=allow-oom
--[[
  unlockFlows: release coordinator locks taken with a value, and say which instances must be advanced
  again: those marked dirty meanwhile (someone finished work while we held the lock), and those whose
  lock was no longer ours (it expired while we worked: whoever took it may have looked before our
  commit, so our pass may have been missed by them).

  KEYS[1..n]    lock:flow-ins:{fiId}
  KEYS[n+1..2n] dirty:flow-ins:{fiId}, in the same order
  ARGV[1] the lock value of the pass

  Returns: the 1-based positions of the instances to advance again.
  OOM: allowed (it only deletes). Safe to run twice (the second run reports every lock as not ours,
  which costs one more, idempotent, pass).
]]
local n = #KEYS / 2
local again = {}
for i = 1, n do
  local ours = redis.call('GET', KEYS[i]) == ARGV[1]
  if ours then
    redis.call('DEL', KEYS[i])
  end
  if not ours or redis.call('EXISTS', KEYS[n + i]) == 1 then
    again[#again + 1] = i
  end
end
return again
