#!lua flags=allow-oom
--[[
  fenceCopy: the leader writes its lease's value into each shard of a queue of several shards (each
  shard's slot has its own copy, `{q:<n>}:leader`): the reaper's scripts on that shard check the copy
  atomically with the shard's keys, as they check the lease itself on a queue of one shard. Written with
  the lease's TTL on election (`force`: whatever a former leader left) and after every extension (only
  over its own value or none: a late write of a leader that has since lost the lease leaves the new
  leader's copy alone).

  KEYS[1] the shard's copy of the leader lease
  ARGV[1] the lease's value
  ARGV[2] TTL ms
  ARGV[3] '1' to write over another value (just elected), '0' not

  Returns: 1 when written, 0 when another value was left in place.
  OOM: allowed (one small key, needed for the reaper). Safe to run twice.
]]
local cur = redis.call('GET', KEYS[1])
if cur and cur ~= ARGV[1] and ARGV[3] ~= '1' then
  return 0
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', tonumber(ARGV[2]))
return 1
