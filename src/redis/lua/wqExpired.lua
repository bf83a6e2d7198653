#!lua flags=no-writes
--[[
  wqExpired: up to `max` leases of one queue whose deadline has passed, for the leader's reaper; left in
  place (the reaper decides them in MySQL, then settles them with wqSettle.lua).
  Not fenced by the leader lease in the script (that key is in another hash slot): settling is
  conditional on the very lease listed, and the MySQL decision on the row's version.

  KEYS[1] {wq:<queue>}:leases  sorted set, score = lease deadline
  KEYS[2] {wq:<queue>}:owner   hash id -> lease token
  KEYS[3] {wq:<queue>}:since   hash id -> leased-at epoch ms
  ARGV[1] max (> 0)

  Returns: flat list id, token, leasedAt, leaseDeadline, ... earliest deadline first.
]]
--#include leases.lib
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return leasesExpired(KEYS[1], KEYS[2], KEYS[3], now, tonumber(ARGV[1]))
