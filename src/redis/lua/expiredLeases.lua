#!lua flags=no-writes
--[[
  expiredLeases: list up to `max` leases whose deadline has passed, for the leader's reaper. Nothing is
  removed here: the reaper decides each one in MySQL first and then settles it (settleExpired.lua), so a
  MySQL error in between leaves the lease where it was, to be found again by the next pass.
  Fenced: only the holder of the leader lease gets an answer.

  KEYS[1] inflight        sorted set, score = lease deadline
  KEYS[2] inflight:owner  hash id -> owner
  KEYS[3] inflight:since  hash id -> claimed-at epoch ms
  KEYS[4] leader          the leader lease (value = holder's lock value)
  ARGV[1] the caller's leader lock value
  ARGV[2] max (> 0)

  Returns: flat list id, owner, claimedAt, leaseDeadline, ... earliest deadline first (owner and
  claimedAt are '' when the hashes lost them); an error NOTLEADER when the caller does not hold the lease.
]]
--#include leases.lib
if redis.call('GET', KEYS[4]) ~= ARGV[1] then
  return redis.error_reply('NOTLEADER the leader lease is not held by the caller')
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return leasesExpired(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[2]))
