"""The Lua scripts of the store: each change of a task happens in Redis in one atomic step.

A write bumps `seq`, refuses a change after a terminal state, folds a subtask into its
group's aggregate, PUBLISHes the snapshot on its task's channel, and pushes a history
record when the task is created or ends; a create counts the owner's, the address's
and everyone's unfinished tasks against their limits before it writes. Running both as
scripts means parallel requests and workers can never interleave halfway.
"""

from __future__ import annotations

from typing import Final

from live_progress.store.snapshot import LIVE_FIELDS, PUBLIC_FIELDS, TERMINAL_STATES

EVENTS_PREFIX: Final = "progress:events:"
# One sorted set per queue: the tracked tasks waiting in it, in the order they were sent.
QUEUED_PREFIX: Final = "progress:queued:"
# The fields a published message carries (the live ones are added by each web process).
PUBLISHED_FIELDS: Final = [field for field in PUBLIC_FIELDS if field not in LIVE_FIELDS]
# What the history keeps of a task: the published fields and its owner and creation time.
RECORDED_FIELDS: Final = [*PUBLISHED_FIELDS, "owner", "created"]

# The ended states, from the snapshot's table (as the hash stores them: JSON strings).
TERMINAL_LUA = (
    "local TERMINAL = {"
    + ", ".join(f"['\"{state}\"'] = true" for state in sorted(TERMINAL_STATES))
    + """}
local function terminal(state)
  return TERMINAL[state] == true
end
"""
)

# Publishes a snapshot's public fields as one JSON text on its task's channel, after its
# seq and state ('12 PROGRESS {...}'). The stored values are JSON already, so the text is
# written by joining them: no encoding here, and no decoding in the web process.
PUBLISH_LUA = (
    "local PUBLISHED = {"
    + ", ".join(f"'{field}'" for field in PUBLISHED_FIELDS)
    + """}
local function publish(key, task_id)
  local values = redis.call('HMGET', key, unpack(PUBLISHED))
  local parts = {}
  for i, field in ipairs(PUBLISHED) do
    parts[i] = '"' .. field .. '":' .. (values[i] or 'null')
  end
  -- '<seq> <state> <json>': a subscriber learns the order and state without parsing.
  local head = values["""
    + str(PUBLISHED_FIELDS.index("seq") + 1)
    + """] .. ' ' .. string.sub(values["""
    + str(PUBLISHED_FIELDS.index("state") + 1)
    + """], 2, -2) .. ' '
  redis.call('PUBLISH', '"""
    + EVENTS_PREFIX
    + """' .. task_id, head .. '{' .. table.concat(parts, ',') .. '}')
end

-- A task created here or ended: its record goes on the history list (KEYS[3]), which a
-- worker thread writes to the database in batches, off every task's path.
local RECORDED = {"""
    + ", ".join(f"'{field}'" for field in RECORDED_FIELDS)
    + """}
local function remember(key)
  local values = redis.call('HMGET', key, unpack(RECORDED))
  local parts = {}
  for i, field in ipairs(RECORDED) do
    parts[i] = '"' .. field .. '":' .. (values[i] or 'null')
  end
  redis.call('RPUSH', KEYS[3], '{' .. table.concat(parts, ',') .. '}')
end
"""
)

# KEYS[1] the task's hash, KEYS[2] its parent's hash (any key when it has none), KEYS[3]
# the history list of this database (see `history_key`).
# ARGV[1] ttl, ARGV[2] '1' to create a missing snapshot (a task that reports progress
# without having been started here), ARGV[3] parent id or '', ARGV[4] now (ISO, JSON),
# ARGV[5] the key prefix, ARGV[6] n: then n values (field/value pairs used only when
# creating), then the fields to write.
# Returns {-1} when the task is unknown (and not to be created), {-2, state} when it has
# already ended, else {created (0/1), the task's hash, the parent's hash when this change
# moved it}; each
# change is published on its task's channel in the same step (see `EVENTS_PREFIX`).
WRITE = (
    TERMINAL_LUA
    + PUBLISH_LUA
    + """
local state = redis.call('HGET', KEYS[1], 'state')
local created = 0
local n = tonumber(ARGV[6])
if not state then
  if ARGV[2] ~= '1' then return {-1} end
  created = 1
  redis.call('HSET', KEYS[1], 'seq', 0, unpack(ARGV, 7, 6 + n))
elseif terminal(state) then
  return {-2, state}
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], unpack(ARGV, 7 + n))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local task_id = string.sub(KEYS[1], string.len(ARGV[5]) + 1)
publish(KEYS[1], task_id)
-- No longer queued (started, cancelled, failed to send): off its queue's positions.
local queue = redis.call('HGET', KEYS[1], 'queue')
if state == '"PENDING"' and queue and redis.call('HGET', KEYS[1], 'state') ~= '"PENDING"' then
  redis.call('ZREM', '"""
    + QUEUED_PREFIX
    + """' .. cjson.decode(queue), task_id)
end
-- A group's part is kept in its group's record (`children`), not as a row of its own.
if ARGV[3] == '' and (created == 1 or terminal(redis.call('HGET', KEYS[1], 'state'))) then
  remember(KEYS[1])
end
local out = {created, redis.call('HGETALL', KEYS[1])}
if ARGV[3] == '' then return out end

-- A subtask: fold its state into the parent's `children` and aggregate.
local pstate = redis.call('HGET', KEYS[2], 'state')
local raw = redis.call('HGET', KEYS[2], 'children')
if not pstate or terminal(pstate) or not raw then return out end
local me = redis.call('HMGET', KEYS[1], 'state', 'current', 'total', 'percent', 'error', 'name')
local children = cjson.decode(raw)
local sum_current, sum_total, done, failed, unknown = 0, 0, 0, nil, 0
for _, child in ipairs(children) do
  if child.task_id == cjson.decode(redis.call('HGET', KEYS[1], 'task_id')) then
    child.state = cjson.decode(me[1])
    child.current = cjson.decode(me[2])
    child.total = cjson.decode(me[3])
    child.percent = cjson.decode(me[4])
    if child.state == 'FAILURE' or child.state == 'REVOKED' then
      local why = cjson.decode(me[5])
      if type(why) ~= 'string' then why = 'cancelled' end
      failed = 'Subtask ' .. cjson.decode(me[6]) .. ' (' .. child.task_id .. ') '
        .. (child.state == 'REVOKED' and 'was cancelled' or 'failed: ' .. why)
    end
  end
  sum_current = sum_current + child.current
  -- A part that has not reported yet has no real total: it counts as the average of
  -- those that have (else one quick part of four would show as 9%, not 25%).
  if child.state == 'PENDING' or (child.state == 'STARTED' and child.current == 0) then
    unknown = unknown + 1
  else
    sum_total = sum_total + child.total
  end
  if child.state == 'SUCCESS' or child.state == 'FAILURE' or child.state == 'REVOKED' then
    done = done + 1
  end
end
if unknown == #children then
  sum_total = 100 * unknown
elseif unknown > 0 then
  sum_total = sum_total + unknown * sum_total / (#children - unknown)
end
local percent = 0
if sum_total > 0 then
  percent = math.max(0, math.min(100, math.floor(sum_current * 100 / sum_total)))
end
local fields = {'children', cjson.encode(children), 'current', cjson.encode(sum_current),
  'total', cjson.encode(sum_total), 'percent', tostring(percent), 'updated_at', ARGV[4]}
if failed then
  for _, v in ipairs({'state', '"FAILURE"', 'message', '"Failed"', 'error', cjson.encode(failed),
      'finished_at', ARGV[4]}) do table.insert(fields, v) end
elseif done == #children and redis.call('HGET', KEYS[2], 'callback') ~= 'true' then
  local results = {}
  for i, child in ipairs(children) do
    results[i] = redis.call('HGET', ARGV[5] .. child.task_id, 'result') or 'null'
  end
  for _, v in ipairs({'state', '"SUCCESS"', 'message', '"Done"', 'percent', '100',
      'result', '[' .. table.concat(results, ',') .. ']', 'finished_at', ARGV[4]}) do
    table.insert(fields, v)
  end
else
  local word = done .. ' of ' .. #children .. ' subtasks done'
  if done == #children then word = 'combining the results' end
  if pstate == '"PENDING"' or pstate == '"STARTED"' or pstate == '"PROGRESS"' then
    for _, v in ipairs({'state', '"PROGRESS"', 'message', cjson.encode('Running: ' .. word)}) do
      table.insert(fields, v)
    end
    local started = redis.call('HGET', KEYS[2], 'started_at')
    if not started or started == 'null' then
      table.insert(fields, 'started_at'); table.insert(fields, ARGV[4])
    end
  end
end
redis.call('HINCRBY', KEYS[2], 'seq', 1)
redis.call('HSET', KEYS[2], unpack(fields))
redis.call('EXPIRE', KEYS[2], ARGV[1])
publish(KEYS[2], ARGV[3])
if terminal(redis.call('HGET', KEYS[2], 'state')) then remember(KEYS[2]) end
out[3] = redis.call('HGETALL', KEYS[2])
return out
"""
)

# KEYS[1] the task's hash, KEYS[2] the owner's index, KEYS[3] the client address's index,
# KEYS[4] the index of everyone's unfinished tasks; ARGV[1] ttl, ARGV[2] the owner's limit
# of unfinished tasks ('' for none), ARGV[3] now (epoch), ARGV[4] key prefix, ARGV[5] '1' to
# add the task to the indexes ('0' for a group's subtask), ARGV[6] the address's limit and
# ARGV[7] everyone's ('' for none), ARGV[8..] fields.
# Counting and creating in one script: parallel requests cannot pass the limit together.
# Returns the hash, {-1} when the id exists, {-2, n} when the owner has n unfinished tasks,
# {-3, n} when the address has, {-4, n} when everyone together has.
CREATE = (
    TERMINAL_LUA
    + """
-- The ids of an address's or everyone's unfinished tasks: those that ended (or expired)
-- leave the index here. `last`: look only at the oldest few.
local function unfinished(index, last)
  for _, id in ipairs(redis.call('ZRANGE', index, 0, last or -1)) do
    local state = redis.call('HGET', ARGV[4] .. id, 'state')
    if not state or terminal(state) then redis.call('ZREM', index, id) end
  end
  return redis.call('ZCARD', index)
end
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
if ARGV[2] ~= '' then
  local unfinished = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local state = redis.call('HGET', ARGV[4] .. id, 'state')
    if state and not terminal(state) then unfinished = unfinished + 1 end
  end
  if unfinished >= tonumber(ARGV[2]) then return {-2, unfinished} end
end
-- Tidy the oldest few of an index on every create; count them all only near the limit.
if ARGV[6] ~= '' then
  local n = unfinished(KEYS[3], 19)
  if n >= tonumber(ARGV[6]) then n = unfinished(KEYS[3]) end
  if n >= tonumber(ARGV[6]) then return {-3, n} end
end
if ARGV[5] == '1' then
  local n = unfinished(KEYS[4], 19)
  if ARGV[7] ~= '' and n >= tonumber(ARGV[7]) then n = unfinished(KEYS[4]) end
  if ARGV[7] ~= '' and n >= tonumber(ARGV[7]) then return {-4, n} end
end
redis.call('HSET', KEYS[1], 'seq', 1, unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[1])
-- Its place in its queue, scored on Redis's clock (web hosts' clocks may differ); entries
-- older than the snapshots' lifetime go, so a lost task cannot inflate positions.
local queue = redis.call('HGET', KEYS[1], 'queue')
if queue and queue ~= 'null' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
  local queued = '"""
    + QUEUED_PREFIX
    + """' .. cjson.decode(queue)
  redis.call('ZADD', queued, now, string.sub(KEYS[1], string.len(ARGV[4]) + 1))
  redis.call('ZREMRANGEBYSCORE', queued, '-inf', now - tonumber(ARGV[1]) * 1000000)
  redis.call('EXPIRE', queued, ARGV[1])
end
if ARGV[5] ~= '1' then return redis.call('HGETALL', KEYS[1]) end
local id = string.sub(KEYS[1], string.len(ARGV[4]) + 1)
redis.call('ZADD', KEYS[4], ARGV[3], id)
redis.call('EXPIRE', KEYS[4], ARGV[1])
if ARGV[6] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[3], id)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
redis.call('ZADD', KEYS[2], ARGV[3], id)
-- Keep enough of the newest ids to count the limit; older ones are finished anyway.
local keep = 50
if ARGV[2] ~= '' then keep = math.max(keep, 2 * tonumber(ARGV[2])) end
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -keep - 1)
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""
)

# KEYS[1] the old owner's index, KEYS[2] the new one's; ARGV[1] key prefix, ARGV[2] the new
# owner (JSON), ARGV[3] ttl. Moves the index and rewrites the snapshots that still exist.
REASSIGN = """
local ids = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
local moved = {}
for i = 1, #ids, 2 do
  if redis.call('EXISTS', ARGV[1] .. ids[i]) == 1 then
    redis.call('HSET', ARGV[1] .. ids[i], 'owner', ARGV[2])
  end
  redis.call('ZADD', KEYS[2], ids[i + 1], ids[i])
  table.insert(moved, ids[i])
end
redis.call('DEL', KEYS[1])
if #moved > 0 then
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -51)
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
return moved
"""

# Taking a batch of history records to write (see `store/drain.py`). KEYS[1] the history
# list, KEYS[2] the leases (batch name -> Redis time after which it counts as abandoned),
# KEYS[3] the batches being written (batch name -> their records, one per line); ARGV[1]
# this batch's name, ARGV[2] how many records at most, ARGV[3] the lease in seconds.
# First the batches of drainers that died (lease over, never acknowledged) go back to the
# head of the list, then up to ARGV[2] records move from the list into this batch: a record
# leaves Redis only when its drainer acknowledges the batch after the database commit.
TAKE_HISTORY = """
local now = tonumber(redis.call('TIME')[1])
local leases = redis.call('HGETALL', KEYS[2])
for i = 1, #leases, 2 do
  if tonumber(leases[i + 1]) < now then
    local batch = redis.call('HGET', KEYS[3], leases[i])
    if batch then
      local records = {}
      for record in string.gmatch(batch, '[^\\n]+') do table.insert(records, record) end
      for j = #records, 1, -1 do redis.call('LPUSH', KEYS[1], records[j]) end
    end
    redis.call('HDEL', KEYS[3], leases[i])
    redis.call('HDEL', KEYS[2], leases[i])
  end
end
local records = redis.call('LRANGE', KEYS[1], 0, tonumber(ARGV[2]) - 1)
if #records == 0 then return records end
redis.call('LTRIM', KEYS[1], #records, -1)
redis.call('HSET', KEYS[3], ARGV[1], table.concat(records, '\\n'))
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[3]))
return records
"""
