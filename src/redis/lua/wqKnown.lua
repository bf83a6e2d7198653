#!lua flags=no-writes
--[[
  wqKnown: which of the given ids are in one queue's ready or leases set (for the reconciler).

  KEYS[1] {wq:<queue>}:ready   sorted set
  KEYS[2] {wq:<queue>}:leases  sorted set
  ARGV[1..] ids

  Returns: the ids present in either set.
]]
local out = {}
for _, id in ipairs(ARGV) do
  if redis.call('ZSCORE', KEYS[1], id) or redis.call('ZSCORE', KEYS[2], id) then
    out[#out + 1] = id
  end
end
return out
