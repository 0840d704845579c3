"""The Lua scripts that write a task's change: each happens in Redis in one atomic step.

A write bumps `seq`, refuses a change after a terminal state, folds a subtask into its
group's aggregate, PUBLISHes the snapshot on its task's channel, pushes a history record
when the task is created or ends, and keeps the counts of starts and ends (counts.py)
and the indexes of unfinished tasks (a task leaves them as it ends). Creating a task,
with its limits, is in lua_create.py. Running them as scripts means parallel requests
and workers can never interleave halfway.
"""

from __future__ import annotations

from typing import Final, NamedTuple

from live_progress.store.counts import WAITED_BUCKETS
from live_progress.store.keys import (
    ACTIVE_PREFIX,
    ADDRESS_PREFIX,
    ENDED_KEY,
    EVENTS_PREFIX,
    QUEUED_PREFIX,
    STARTED_KEY,
    UNFINISHED_KEY,
    WAITED_KEY,
)
from live_progress.store.snapshot import LIVE_FIELDS, PUBLIC_FIELDS, TERMINAL_STATES

# The fields a published message carries (the live ones are added by each web process).
PUBLISHED_FIELDS: Final = [field for field in PUBLIC_FIELDS if field not in LIVE_FIELDS]
# What the history keeps of a task: the published fields, its owner, creation time and
# the summary of its arguments.
RECORDED_FIELDS: Final = [*PUBLISHED_FIELDS, "owner", "created", "kwargs_summary"]


def _table(name: str, values: list[str]) -> str:
    """A Lua table of strings."""
    return f"local {name} = {{" + ", ".join(f"'{value}'" for value in values) + "}\n"


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
# seq, state and Redis's time ('12 PROGRESS 1733580000.123456 {...}': the web process
# measures each message's delay to its sockets from that time). The stored values are
# JSON already, so the text is written by joining them: no encoding here, and no
# decoding in the web process.
PUBLISH_LUA = (
    _table("PUBLISHED", PUBLISHED_FIELDS)
    + """local function publish(key, task_id)
  local values = redis.call('HMGET', key, unpack(PUBLISHED))
  local parts = {}
  for i, field in ipairs(PUBLISHED) do
    parts[i] = '"' .. field .. '":' .. (values[i] or 'null')
  end
  local t = redis.call('TIME')
  local head = values["""
    + str(PUBLISHED_FIELDS.index("seq") + 1)
    + """] .. ' ' .. string.sub(values["""
    + str(PUBLISHED_FIELDS.index("state") + 1)
    + """], 2, -2) .. ' ' .. t[1] .. '.' .. string.format('%06d', t[2]) .. ' '
  redis.call('PUBLISH', '"""
    + EVENTS_PREFIX
    + """' .. task_id, head .. '{' .. table.concat(parts, ',') .. '}')
end

"""
    + _table("RECORDED", RECORDED_FIELDS)
    + """-- A task created or ended: its record goes on the history list `list`, which a
-- worker thread writes to the database in batches, off every task's path.
local function remember(key, list)
  local values = redis.call('HMGET', key, unpack(RECORDED))
  local parts = {}
  for i, field in ipairs(RECORDED) do
    parts[i] = '"' .. field .. '":' .. (values[i] or 'null')
  end
  redis.call('RPUSH', list, '{' .. table.concat(parts, ',') .. '}')
end

local function text(value)
  local decoded = value and cjson.decode(value)
  if type(decoded) == 'string' then return decoded end
  return nil
end

-- A task that just ended: off the indexes of unfinished tasks, and counted by state.
local function finish(key, task_id)
  local f = redis.call('HMGET', key, 'owner', 'address', 'name', 'state')
  redis.call('ZREM', '"""
    + UNFINISHED_KEY
    + """', task_id)
  local owner, address = text(f[1]), text(f[2])
  if owner then redis.call('ZREM', '"""
    + ACTIVE_PREFIX
    + """' .. owner, task_id) end
  if address then redis.call('ZREM', '"""
    + ADDRESS_PREFIX
    + """' .. address, task_id) end
  redis.call('HINCRBY', '"""
    + ENDED_KEY
    + """', (text(f[4]) or '?') .. ' ' .. (text(f[3]) or 'unknown'), 1)
end

"""
    + "local WAITED = {"
    + ", ".join(repr(bound) for bound in WAITED_BUCKETS)
    + """}
-- A task's first word from a worker: counted, and how long it waited since it was created.
local function begin(key, was_queued)
  local f = redis.call('HMGET', key, 'name', 'created')
  redis.call('HINCRBY', '"""
    + STARTED_KEY
    + """', text(f[1]) or 'unknown', 1)
  local created = f[2] and tonumber(f[2])
  if not was_queued or not created then return end
  local t = redis.call('TIME')
  local waited = math.max(0, tonumber(t[1]) + tonumber(t[2]) / 1000000 - created)
  local bucket = #WAITED
  for i, bound in ipairs(WAITED) do
    if waited <= bound then bucket = i - 1; break end
  end
  redis.call('HINCRBY', '"""
    + WAITED_KEY
    + """', tostring(bucket), 1)
  redis.call('HINCRBYFLOAT', '"""
    + WAITED_KEY
    + """', 'sum', string.format('%.6f', waited))
end
"""
)

# KEYS[1] the task's hash, KEYS[2] its parent's hash (any key when it has none), KEYS[3]
# the history list of this database (see `history_key`).
# ARGV[1] ttl, ARGV[2] '1' to create a missing snapshot (a task that reports progress
# without having been started here), ARGV[3] parent id or '', ARGV[4] now (ISO, JSON),
# ARGV[5] the key prefix, ARGV[6] n, ARGV[7] '1' to answer with the hashes: then n values
# (field/value pairs used only when creating), then the fields to write.
# Returns {-1} when the task is unknown (and not to be created), {-2, state} when it has
# already ended, else {created (0/1), and with ARGV[7] the task's hash and the parent's
# hash when this change moved it}; each change is published on its task's channel in the
# same step.
WRITE = (
    TERMINAL_LUA
    + PUBLISH_LUA
    + """
local state = redis.call('HGET', KEYS[1], 'state')
local created = 0
local n = tonumber(ARGV[6])
local back = ARGV[7] == '1'
if not state then
  if ARGV[2] ~= '1' then return {-1} end
  created = 1
  redis.call('HSET', KEYS[1], 'seq', 0, unpack(ARGV, 8, 7 + n))
elseif terminal(state) then
  return {-2, state}
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], unpack(ARGV, 8 + n))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local task_id = string.sub(KEYS[1], string.len(ARGV[5]) + 1)
publish(KEYS[1], task_id)
local now_state = redis.call('HGET', KEYS[1], 'state')
local ended = terminal(now_state)
-- No longer queued (started, cancelled, failed to send): off its queue's positions.
if state == '"PENDING"' and now_state ~= '"PENDING"' then
  local queue = redis.call('HGET', KEYS[1], 'queue')
  if queue and queue ~= 'null' then
    redis.call('ZREM', '"""
    + QUEUED_PREFIX
    + """' .. cjson.decode(queue), task_id)
  end
end
if ended then
  finish(KEYS[1], task_id)
elseif (created == 1 and now_state ~= '"PENDING"')
    or ((state == '"PENDING"' or state == '"RETRY"') and now_state ~= '"PENDING"') then
  begin(KEYS[1], state == '"PENDING"')
end
-- A group's part is kept in its group's record (`children`), not as a row of its own.
if ARGV[3] == '' and (created == 1 or ended) then
  remember(KEYS[1], KEYS[3])
end
local out = {created}
if back then out[2] = redis.call('HGETALL', KEYS[1]) end
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
if terminal(redis.call('HGET', KEYS[2], 'state')) then
  finish(KEYS[2], ARGV[3])
  remember(KEYS[2], KEYS[3])
elseif pstate == '"PENDING"' then
  begin(KEYS[2], true)
end
if back then out[3] = redis.call('HGETALL', KEYS[2]) end
return out
"""
)


class Event(NamedTuple):
    """A published change: its seq and state, when Redis published it, its JSON text."""

    seq: int
    state: str
    at: float  # epoch seconds on Redis's clock
    text: str  # the public fields, less the live ones


def split_event(data: str) -> Event:
    """A message PUBLISH_LUA published ('<seq> <state> <epoch> <json>'), in its parts."""
    seq, state, at, text = data.split(" ", 3)
    return Event(int(seq), state, float(at), text)
