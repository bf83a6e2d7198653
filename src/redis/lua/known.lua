#!lua flags=no-writes
--[[
  known: which of the given ids are in a ready set or inflight (one consistent read, so an id moving
  from ready to inflight at the same moment is not missed).

  KEYS[1] ready     sorted set (priority 0)
  KEYS[2] inflight  sorted set
  KEYS[3..11] ready:p1 … ready:p9
  KEYS[12] limited  hash id -> taskId (limits.lib): an id waiting on its task's limits is known too
  ARGV[1..] ids

  Returns: the ids present in any of the sets.
]]
local out = {}
for _, id in ipairs(ARGV) do
  local found = redis.call('ZSCORE', KEYS[2], id)
  local k = 1
  while not found and k <= 11 do
    if k ~= 2 then found = redis.call('ZSCORE', KEYS[k], id) end
    k = k + 1
  end
  if not found then
    local task = redis.call('HGET', KEYS[12], id)
    if task then found = redis.call('ZSCORE', string.sub(KEYS[12], 1, #KEYS[12] - 7) .. '{task:' .. task .. '}:waiting', id) end
  end
  if found then
    out[#out + 1] = id
  end
end
return out
