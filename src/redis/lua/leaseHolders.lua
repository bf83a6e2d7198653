#!lua flags=no-writes
--[[
  leaseHolders: the members that hold leases now (the member id of each owner `memberId|token`, once
  each), for the reaper to look up their heartbeats. Read-only and unfenced: what is done with the
  answer (expireOrphans.lua) is fenced.

  KEYS[1] inflight:owner  hash id -> owner (`memberId|token`)
  (no ARGV)

  Returns: { member id, ... }
]]
local seen = {}
local out = {}
for _, owner in ipairs(redis.call('HVALS', KEYS[1])) do
  local member = string.match(owner, '^(.*)|') or owner
  if not seen[member] then
    seen[member] = true
    out[#out + 1] = member
  end
end
return out
