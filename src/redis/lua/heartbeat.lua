#!lua flags=allow-oom
--[[
  heartbeat: a member's beat. Writes its heartbeat key whole (so it comes back by itself after Redis
  lost it), and checks that the prefix belongs to this member's database: the first member to beat
  writes its database's cluster id under the prefix; a member of another database finds a different id.

  KEYS[1] member:{memberId}  the heartbeat key
  KEYS[2] cluster            the database identity this prefix belongs to
  ARGV[1] the member's info (JSON)
  ARGV[2] ttl ms (three heartbeats)
  ARGV[3] this member's database cluster id

  Returns: '' when the prefix is this database's, else the other cluster id found.
  OOM: allowed (the key is rewritten at about the same size): a member must not look dead, and have its
  leases reaped, because Redis refuses new data.
]]
local owner = redis.call('GET', KEYS[2])
if owner and owner ~= ARGV[3] then
  return owner
end
if not owner then
  redis.call('SET', KEYS[2], ARGV[3])
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return ''
