#!lua flags=no-writes
--[[
  known: which of the given ids are in ready or inflight (one consistent read, so an id moving
  from ready to inflight at the same moment is not missed).

  KEYS[1] ready     sorted set
  KEYS[2] inflight  sorted set
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
