"""Task snapshots in Redis: every read and write of live progress state happens here.

A snapshot is one Redis hash per task, each value JSON-encoded. Every write bumps its
`seq` atomically, so clients can drop messages that arrive out of order, and once a
task has reached a terminal state later writes (a late coalesced value, say) are
refused. A subtask of a group also folds its progress into its parent's hash, in the
same script, so the group's aggregate can never miss or double-count a child.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any, Final, cast

from django.db import connection

from .conf import conf
from .redis_client import get_redis
from .snapshot import LIVE_FIELDS, PENDING, PUBLIC_FIELDS, REVOKED, Child, Stored, percent_of

KEY_PREFIX: Final = "progress:task:"
# Everyone's unfinished tasks (started through `progress.start`), by creation time.
UNFINISHED_KEY: Final = "progress:unfinished"
# The ended states as the snapshots store them (snapshot.TERMINAL_STATES).
ENDED: Final = ("SUCCESS", "FAILURE", "REVOKED")

EVENTS_PREFIX: Final = "progress:events:"
# The fields a published message carries (the live ones are added by each web process).
PUBLISHED_FIELDS: Final = [field for field in PUBLIC_FIELDS if field not in LIVE_FIELDS]
# What the history keeps of a task: the published fields and its owner and creation time.
RECORDED_FIELDS: Final = [*PUBLISHED_FIELDS, "owner", "created"]

_TERMINAL_LUA = """
local function terminal(state)
  return state == '"SUCCESS"' or state == '"FAILURE"' or state == '"REVOKED"'
end
"""

# Publishes a snapshot's public fields as one JSON text on its task's channel. The stored
# values are JSON already, so the text is written by joining them: no encoding at all.
_PUBLISH_LUA = (
    "local PUBLISHED = {"
    + ", ".join(f"'{field}'" for field in PUBLISHED_FIELDS)
    + """}
local function publish(key, task_id)
  local values = redis.call('HMGET', key, unpack(PUBLISHED))
  local parts = {}
  for i, field in ipairs(PUBLISHED) do
    parts[i] = '"' .. field .. '":' .. (values[i] or 'null')
  end
  redis.call('PUBLISH', '"""
    + EVENTS_PREFIX
    + """' .. task_id, '{' .. table.concat(parts, ',') .. '}')
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
# Returns nil when refused (unknown and not to be created, or already terminal), else
# {created (0/1), the task's hash, the parent's hash when this change moved it}; each
# change is published on its task's channel in the same step (see `EVENTS_PREFIX`).
_WRITE = (
    _TERMINAL_LUA
    + _PUBLISH_LUA
    + """
local state = redis.call('HGET', KEYS[1], 'state')
local created = 0
local n = tonumber(ARGV[6])
if not state then
  if ARGV[2] ~= '1' then return nil end
  created = 1
  redis.call('HSET', KEYS[1], 'seq', 0, unpack(ARGV, 7, 6 + n))
elseif terminal(state) then
  return nil
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[4], unpack(ARGV, 7 + n))
redis.call('EXPIRE', KEYS[1], ARGV[1])
publish(KEYS[1], string.sub(KEYS[1], string.len(ARGV[5]) + 1))
if created == 1 or terminal(redis.call('HGET', KEYS[1], 'state')) then remember(KEYS[1]) end
local out = {created, redis.call('HGETALL', KEYS[1])}
if ARGV[3] == '' then return out end

-- A subtask: fold its state into the parent's `children` and aggregate.
local pstate = redis.call('HGET', KEYS[2], 'state')
local raw = redis.call('HGET', KEYS[2], 'children')
if not pstate or terminal(pstate) or not raw then return out end
local me = redis.call('HMGET', KEYS[1], 'state', 'current', 'total', 'percent', 'error', 'name')
local children = cjson.decode(raw)
local sum_current, sum_total, done, failed = 0, 0, 0, nil
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
  sum_total = sum_total + child.total
  if child.state == 'SUCCESS' or child.state == 'FAILURE' or child.state == 'REVOKED' then
    done = done + 1
  end
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
_CREATE = (
    _TERMINAL_LUA
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
if ARGV[6] ~= '' then
  local n = unfinished(KEYS[3])
  if n >= tonumber(ARGV[6]) then return {-3, n} end
end
if ARGV[5] == '1' then
  -- Tidy the oldest few on every create; count them all only near the limit.
  local n = unfinished(KEYS[4], 19)
  if ARGV[7] ~= '' and n >= tonumber(ARGV[7]) then n = unfinished(KEYS[4]) end
  if ARGV[7] ~= '' and n >= tonumber(ARGV[7]) then return {-4, n} end
end
redis.call('HSET', KEYS[1], 'seq', 1, unpack(ARGV, 8))
redis.call('EXPIRE', KEYS[1], ARGV[1])
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
_REASSIGN = """
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


class TooManyTasks(Exception):
    """The owner already has `limit` unfinished tasks."""

    def __init__(self, limit: int) -> None:
        plural = "s" if limit != 1 else ""
        super().__init__(
            f"You already have {limit} unfinished task{plural}, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again."
        )
        self.limit = limit


class TooManyTasksFromAddress(TooManyTasks):
    """The client's address already has `limit` unfinished tasks (whatever its sessions)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.args = (
            f"Your address already has {limit} unfinished tasks, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again.",
        )


class QueueFull(Exception):
    """Everyone together already has `limit` unfinished tasks: the server takes no more."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The server already has {limit} unfinished tasks, the most it takes at once. "
            "Try again in a few minutes."
        )
        self.limit = limit


def events_channel(task_id: str) -> str:
    """The Redis pub/sub channel on which every change of a task is published."""
    return f"{EVENTS_PREFIX}{task_id}"


def history_key() -> str:
    """The list of task records waiting to be written to this project's database.

    Named after the database, so that only processes writing to the same one take from
    it (a test's own database never takes a live server's records, say).
    """
    database = connection.settings_dict
    where = f"{database.get('HOST')}:{database.get('PORT')}/{database.get('NAME')}"
    return f"progress:history:{hashlib.sha1(where.encode()).hexdigest()[:12]}"


def key(task_id: str) -> str:
    """The Redis key of a task's snapshot."""
    return f"{KEY_PREFIX}{task_id}"


def owner_key(owner: str) -> str:
    """The Redis key of an owner's index of recent task ids."""
    return f"progress:owner:{owner}"


def address_key(address: str) -> str:
    """The Redis key of a client address's index of unfinished task ids."""
    return f"progress:address:{address}"


def unfinished(*, limit: int = 1000) -> list[Stored]:
    """Tasks started through `progress.start` that have not ended, oldest first."""
    ids = [str(i) for i in get_redis().zrange(UNFINISHED_KEY, 0, limit - 1)]
    found = read_many(ids)
    return [s for i in ids if (s := found.get(i)) is not None and s["state"] not in ENDED]


def now_iso() -> str:
    """The current time as the snapshots write it: ISO 8601, UTC, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


def decode(raw: list[str] | dict[str, str] | None) -> Stored | None:
    """A snapshot from its Redis hash (a dict, or HGETALL's flat list)."""
    if not raw:
        return None
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    stored: dict[str, Any] = {}
    for field, value in pairs:
        stored[field] = int(value) if field == "seq" else json.loads(value)
    return cast(Stored, stored)


def _encode(fields: dict[str, Any]) -> list[str]:
    """Field/value pairs for the scripts, with `percent` derived from current and total."""
    if "current" in fields and "total" in fields:
        fields.setdefault("percent", percent_of(fields["current"], fields["total"]))
    pairs: list[str] = []
    for field, value in fields.items():
        pairs += [field, json.dumps(value)]
    return pairs


def new_snapshot(*, task_id: str, name: str, owner: str, **fields: Any) -> dict[str, Any]:
    """The fields of a task that has just been created (queued, nothing done yet)."""
    return {
        "task_id": task_id,
        "name": name,
        "state": PENDING,
        "current": 0,
        "total": 100,
        "percent": 0,
        "message": "Queued",
        "result": None,
        "error": None,
        "started_at": None,
        "updated_at": now_iso(),
        "finished_at": None,
        "children": None,
        "owner": owner,
        "created": time.time(),
        **fields,
    }


def create(
    fields: dict[str, Any],
    *,
    limit: int | None = None,
    indexed: bool = True,
    address: str | None = None,
    address_limit: int | None = None,
    queued_limit: int | None = None,
) -> Stored:
    """Record a new queued task (see `new_snapshot`) before it is sent to the broker.

    Raises TooManyTasks when its owner already has `limit` unfinished tasks,
    TooManyTasksFromAddress when `address` has `address_limit`, QueueFull when everyone's
    together reach `queued_limit`, and ValueError when the id exists. `indexed=False` (a
    group's subtask) keeps it out of the indexes, so only the group counts against limits.
    """
    if address is None:
        address_limit = None
    raw = get_redis().eval(
        _CREATE,
        4,
        key(fields["task_id"]),
        owner_key(fields["owner"]),
        address_key(address or ""),
        UNFINISHED_KEY,
        conf.PROGRESS_SNAPSHOT_TTL,
        "" if limit is None else limit,
        fields["created"],
        KEY_PREFIX,
        "1" if indexed else "0",
        "" if address_limit is None else address_limit,
        "" if queued_limit is None else queued_limit,
        *_encode(dict(fields)),
    )
    if raw == [-1]:
        raise ValueError(f"task {fields['task_id']} already exists")
    if raw and raw[0] == -2:
        raise TooManyTasks(int(limit or 0))
    if raw and raw[0] == -3:
        raise TooManyTasksFromAddress(int(address_limit or 0))
    if raw and raw[0] == -4:
        raise QueueFull(int(queued_limit or 0))
    stored = decode(raw)
    assert stored is not None
    return stored


def write(
    *,
    task_id: str,
    parent: str | None = None,
    create_as: dict[str, Any] | None = None,
    **fields: Any,
) -> tuple[Stored, Stored | None, bool] | None:
    """Change a task's snapshot (and its parent's aggregate, for a subtask).

    Returns (the task's snapshot, the parent's when it changed, whether the snapshot was
    created just now), or None when refused: the task is already terminal, or unknown
    and `create_as` (the fields of a new snapshot) was not given.
    """
    now = json.dumps(now_iso())
    defaults = _encode(create_as) if create_as is not None else []
    raw = get_redis().eval(
        _WRITE,
        3,
        key(task_id),
        key(parent) if parent else key(task_id),
        history_key(),
        conf.PROGRESS_SNAPSHOT_TTL,
        "1" if create_as is not None else "0",
        parent or "",
        now,
        KEY_PREFIX,
        len(defaults),
        *defaults,
        *_encode(fields),
    )
    if raw is None:
        return None
    stored = decode(raw[1])
    assert stored is not None
    return stored, decode(raw[2]) if len(raw) > 2 else None, bool(raw[0])


def read(*, task_id: str) -> Stored | None:
    """The task's snapshot with private fields, or None when the id is unknown."""
    return decode(cast("dict[str, str]", get_redis().hgetall(key(task_id))))


def read_many(task_ids: list[str]) -> dict[str, Stored]:
    """The snapshots that still exist among `task_ids` (one round trip)."""
    redis = get_redis()
    with redis.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hgetall(key(task_id))
        found = pipe.execute()
    return {
        task_id: stored
        for task_id, raw in zip(task_ids, found, strict=True)
        if (stored := decode(raw)) is not None
    }


def is_revoked(*, task_id: str) -> bool:
    """Whether the task was cancelled (its snapshot says REVOKED)."""
    return get_redis().hget(key(task_id), "state") == json.dumps(REVOKED)


def seq_of(*, task_id: str) -> int | None:
    """The task's current `seq` (one cheap read), or None when the id is unknown."""
    seq = get_redis().hget(key(task_id), "seq")
    return int(cast(str, seq)) if seq is not None else None


def reassign(*, old_owner: str, new_owner: str) -> list[str]:
    """Give every task of `old_owner` that Redis still holds to `new_owner` (a login)."""
    moved = get_redis().eval(
        _REASSIGN,
        2,
        owner_key(old_owner),
        owner_key(new_owner),
        KEY_PREFIX,
        json.dumps(new_owner),
        conf.PROGRESS_SNAPSHOT_TTL,
    )
    return [str(task_id) for task_id in moved]


def children_of(stored: Stored) -> list[Child]:
    """The subtasks a group's snapshot lists (empty for a single task)."""
    return list(stored.get("children") or [])
