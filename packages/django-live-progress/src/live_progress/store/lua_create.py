"""The Lua scripts that create a task (within its limits) and move an owner's tasks.

The limits count sorted sets of unfinished tasks that the write script keeps exact (a
task leaves them in the step that ends it, lua.py): a create costs a few O(1) or
O(log n) commands whatever the limit. Only an index at its limit is read through, to
drop tasks whose snapshot expired without an end (a lost worker's), before refusing.
"""

from __future__ import annotations

from live_progress.store.keys import QUEUED_PREFIX
from live_progress.store.lua import PUBLISH_LUA, TERMINAL_LUA

# KEYS[1] the task's hash, KEYS[2] the owner's index of recent tasks, KEYS[3] the client
# address's unfinished tasks, KEYS[4] everyone's, KEYS[5] the owner's, KEYS[6] the
# history list; ARGV[1] ttl, ARGV[2] the owner's limit of unfinished tasks ('' for none),
# ARGV[3] now (epoch), ARGV[4] key prefix, ARGV[5] '1' for a task of its own ('0' for a
# group's subtask: kept out of the indexes and the history, its group counts), ARGV[6]
# the address's limit and ARGV[7] everyone's ('' for none), ARGV[8..] fields.
# Counting and creating in one script: parallel requests cannot pass the limit together.
# Returns {0, its place in its queue (-1 for none)} (the hash is what the caller sent),
# {-1} when the id exists, {-2, n} when the owner has n unfinished tasks, {-3, n} when the
# address has, {-4, n} when everyone together has.
CREATE = (
    TERMINAL_LUA
    + PUBLISH_LUA
    + """
-- Whether an index of unfinished tasks has reached `limit` ('' for none): its size, and
-- at the limit, its size once the ids whose snapshot expired without an end are dropped.
local function full(index, limit)
  if limit == '' then return nil end
  local n = redis.call('ZCARD', index)
  if n < tonumber(limit) then return nil end
  for _, id in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    local state = redis.call('HGET', ARGV[4] .. id, 'state')
    if not state or terminal(state) then redis.call('ZREM', index, id) end
  end
  n = redis.call('ZCARD', index)
  if n >= tonumber(limit) then return n end
  return nil
end
local function index(key, id)
  redis.call('ZADD', key, ARGV[3], id)
  redis.call('EXPIRE', key, ARGV[1])
end

if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
local own = ARGV[5] == '1'
if own then
  local n = full(KEYS[5], ARGV[2])
  if n then return {-2, n} end
  n = full(KEYS[3], ARGV[6])
  if n then return {-3, n} end
  n = full(KEYS[4], ARGV[7])
  if n then return {-4, n} end
end
redis.call('HSET', KEYS[1], 'seq', 1, unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local id = string.sub(KEYS[1], string.len(ARGV[4]) + 1)
-- Its place in its queue, scored on Redis's clock (web hosts' clocks may differ); entries
-- older than the snapshots' lifetime go, so a lost task cannot inflate positions.
local queue = redis.call('HGET', KEYS[1], 'queue')
local position = -1
if queue and queue ~= 'null' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local queued = '"""
    + QUEUED_PREFIX
    + """' .. cjson.decode(queue)
  redis.call('ZADD', queued, now, id)
  redis.call('ZREMRANGEBYSCORE', queued, '-inf', now - tonumber(ARGV[1]) * 1000000)
  redis.call('EXPIRE', queued, ARGV[1])
  position = redis.call('ZRANK', queued, id)
end
if not own then return {0, position} end
index(KEYS[4], id)
index(KEYS[5], id)
if redis.call('HEXISTS', KEYS[1], 'address') == 1 then index(KEYS[3], id) end
index(KEYS[2], id)
-- The history lists an owner's newest tasks from here until their rows are written:
-- the newest hundred are more than enough.
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -101)
-- Its history row is written by the next drain, not in the request that starts it.
remember(KEYS[1], KEYS[6])
return {0, position}
"""
)

# KEYS[1] the old owner's index, KEYS[2] the new one's, KEYS[3] the old owner's
# unfinished tasks, KEYS[4] the new one's, KEYS[5] where the old owner's tasks went;
# ARGV[1] key prefix, ARGV[2] the new owner (JSON), ARGV[3] ttl. Moves the indexes,
# rewrites the snapshots that still exist, and says where they went (for the history's
# records that still carry the old owner: drain.py).
REASSIGN = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local moved = {}
for i = 1, #ids, 2 do
  if redis.call('EXISTS', ARGV[1] .. ids[i]) == 1 then
    redis.call('HSET', ARGV[1] .. ids[i], 'owner', ARGV[2])
    -- A group's parts too: each may be read on its own.
    local children = redis.call('HGET', ARGV[1] .. ids[i], 'children')
    if children and children ~= 'null' then
      for _, child in ipairs(cjson.decode(children)) do
        if redis.call('EXISTS', ARGV[1] .. child.task_id) == 1 then
          redis.call('HSET', ARGV[1] .. child.task_id, 'owner', ARGV[2])
        end
      end
    end
  end
  redis.call('ZADD', KEYS[2], ids[i + 1], ids[i])
  table.insert(moved, ids[i])
end
redis.call('DEL', KEYS[1])
if #moved > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -101)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
if redis.call('EXISTS', KEYS[3]) == 1 then
  redis.call('ZUNIONSTORE', KEYS[4], 2, KEYS[4], KEYS[3], 'AGGREGATE', 'MIN')
  redis.call('DEL', KEYS[3])
  redis.call('EXPIRE', KEYS[4], ARGV[3])
end
redis.call('SET', KEYS[5], cjson.decode(ARGV[2]), 'EX', ARGV[3])
return moved
"""
