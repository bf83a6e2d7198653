#!lua
--[[
  wqEnqueue: add WORKER task instances to their queue's ready set (external workers poll it), and wake
  the members holding polls on that queue. Every key of one queue shares the hash tag {wq:<queue>}.

  KEYS[1] {wq:<queue>}:ready   sorted set, score = epoch ms the id may be handed out
  KEYS[2] {wq:<queue>}:leases  sorted set, score = lease deadline epoch ms
  ARGV[1] wake channel (`wq:wake`), PUBLISHed "<queue> <count>" when anything was added
  ARGV[2] the queue name
  ARGV[3..] pairs: id, delayMs

  Returns: the number of ids added (an id already ready or leased is left where it is).
  OOM: refused as a whole (new entries). Safe to run twice (NX, and a leased id is skipped).
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = 0
for i = 3, #ARGV, 2 do
  local id = ARGV[i]
  if not redis.call('ZSCORE', KEYS[2], id) then
    added = added + redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[i + 1]), id)
  end
end
if added > 0 then
  redis.call('PUBLISH', ARGV[1], ARGV[2] .. ' ' .. added)
end
return added
