#!lua flags=no-writes
--[[
  wqKnown: which of the given ids are in one queue's ready or leases set (for the reconciler).

  KEYS[1] {wq:<queue>}:ready   sorted set
  KEYS[2] {wq:<queue>}:leases  sorted set
  KEYS[3] {wq:<queue>}:limited hash id -> taskId (wqLimits.lib): an id waiting on its task's limits is known too
  ARGV[1..] ids

  Returns: the ids present in either set or waiting on their task's limits.
]]
--#include limits.lib
local prefix = limPrefix(KEYS[3])
local anyLimited = redis.call('HLEN', KEYS[3]) > 0
local out = {}
for _, id in ipairs(ARGV) do
  local known = redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id)
  if not known and anyLimited then
    local task = redis.call('HGET', KEYS[3], id)
    if task then
      local _, _, w = limKeys(prefix, task)
      known = redis.call('ZSCORE', w, id)
    end
  end
  if known then
    out[#out + 1] = id
  end
end
return out
