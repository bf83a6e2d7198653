--[[
  leases.lib: lease bookkeeping shared by the members' queue scripts and the external workers' queue
  scripts, whose leases have one shape: a sorted set id -> lease deadline, a hash id -> owner (or token)
  and a hash id -> leased-at. Not a script of its own: scripts.ts puts this text where a script says
  `--#include leases.lib`.
]]

-- Ends the lease on `id` if `holder` still holds it: out of the lease set and both hashes. Says whether
-- it did.
local function leaseEnd(leases, owner, since, id, holder)
  if redis.call('HGET', owner, id) == holder and redis.call('ZREM', leases, id) == 1 then
    redis.call('HDEL', owner, id)
    redis.call('HDEL', since, id)
    return true
  end
  return false
end

-- Up to `max` leases whose deadline is before `now`, earliest first, left in place (the reaper decides
-- them first): a flat list id, owner, leased-at, deadline, ... (owner and leased-at are '' when the
-- hashes lost them).
local function leasesExpired(leases, owner, since, now, max)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', '(' .. now, 'WITHSCORES', 'LIMIT', 0, max)
  local out = {}
  for i = 1, #expired, 2 do
    local id = expired[i]
    out[#out + 1] = id
    out[#out + 1] = redis.call('HGET', owner, id) or ''
    out[#out + 1] = redis.call('HGET', since, id) or ''
    out[#out + 1] = expired[i + 1]
  end
  return out
end
