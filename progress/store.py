"""Task snapshots in Redis: every read and write of progress state happens here.

A snapshot is one Redis hash per task. Each write bumps its `seq` atomically, so
clients can drop messages that arrive out of order. Once a task has reached a
terminal state, later writes (a late coalesced progress value, say) are refused.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Final, cast

from django.conf import settings

from .redis_client import get_redis

PENDING: Final = "PENDING"
STARTED: Final = "STARTED"
PROGRESS: Final = "PROGRESS"
RETRY: Final = "RETRY"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
TERMINAL_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})

# Fields a client sees; `owner` and `created` stay private.
PUBLIC_FIELDS: Final = (
    "task_id",
    "state",
    "current",
    "total",
    "percent",
    "message",
    "result",
    "error",
    "seq",
)

# Celery task ids are UUIDs; anything else is refused before it reaches Redis.
TASK_ID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

Snapshot = dict[str, Any]

# KEYS[1] snapshot hash; ARGV[1] ttl; ARGV[2..] field/value pairs (values JSON-encoded).
# Returns the hash, or nil when refused: the task is unknown (only `create` makes
# snapshots, so tasks started elsewhere cost nothing here) or already terminal.
_UPDATE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == '"SUCCESS"' or state == '"FAILURE"' or state == '"REVOKED"' then
  return nil
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] snapshot hash, KEYS[2] the owner's task index; ARGV[1] ttl, ARGV[2] the owner's
# limit of unfinished tasks ('' for none), ARGV[3] now, ARGV[4] snapshot key prefix,
# ARGV[5..] fields.
# Counting and creating in one script: parallel requests cannot pass the limit together.
# Returns the hash, {-1} when the id exists, {-2, n} when the owner has n unfinished tasks.
_CREATE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return {-1} end
if ARGV[2] ~= '' then
  local unfinished = 0
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local state = redis.call('HGET', ARGV[4] .. id, 'state')
    if state and state ~= '"SUCCESS"' and state ~= '"FAILURE"' and state ~= '"REVOKED"' then
      unfinished = unfinished + 1
    end
  end
  if unfinished >= tonumber(ARGV[2]) then return {-2, unfinished} end
end
redis.call('HSET', KEYS[1], 'seq', 1, unpack(ARGV, 5))
redis.call('EXPIRE', KEYS[1], ARGV[1])
local id = string.sub(KEYS[1], string.len(ARGV[4]) + 1)
redis.call('ZADD', KEYS[2], ARGV[3], id)
redis.call('ZREMRANGEBYRANK', KEYS[2], 0, -51)
redis.call('EXPIRE', KEYS[2], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""

KEY_PREFIX: Final = "progress:task:"


def is_valid_task_id(task_id: str) -> bool:
    """True for a well-formed task id (a UUID), whatever its case."""
    return bool(TASK_ID_RE.match(task_id))


def _key(task_id: str) -> str:
    return f"{KEY_PREFIX}{task_id}"


def _owner_key(owner: str) -> str:
    return f"progress:owner:{owner}"


def _decode(raw: list[str] | dict[str, str] | None) -> Snapshot | None:
    if not raw:
        return None
    pairs = raw.items() if isinstance(raw, dict) else zip(raw[::2], raw[1::2], strict=True)
    snapshot: Snapshot = {}
    for field, value in pairs:
        snapshot[field] = int(value) if field == "seq" else json.loads(value)
    return snapshot


def _encode(fields: dict[str, Any]) -> list[str]:
    """Field/value pairs for the scripts, with `percent` derived from current and total."""
    if "current" in fields or "total" in fields:
        fields.setdefault("percent", percent_of(fields.get("current", 0), fields.get("total", 0)))
    pairs: list[str] = []
    for field, value in fields.items():
        pairs += [field, json.dumps(value)]
    return pairs


class TooManyTasks(Exception):
    """The owner already has `limit` unfinished tasks."""

    def __init__(self, limit: int) -> None:
        plural = "s" if limit != 1 else ""
        super().__init__(
            f"You already have {limit} unfinished task{plural}, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again."
        )
        self.limit = limit


def percent_of(current: float, total: float) -> int:
    """`current / total` as a whole percentage clamped to 0..100."""
    if total <= 0:
        return 0
    return max(0, min(100, int(current * 100 // total)))


def create(*, task_id: str, owner: str, limit: int | None = None) -> Snapshot:
    """Record a new queued task owned by `owner`, before it is sent to the broker.

    Raises TooManyTasks when the owner already has `limit` unfinished tasks, and
    ValueError when the id exists.
    """
    now = time.time()
    fields = {
        "task_id": task_id,
        "state": PENDING,
        "current": 0,
        "total": 100,
        "message": "Queued",
        "result": None,
        "error": None,
        "owner": owner,
        "created": now,
    }
    raw = get_redis().eval(
        _CREATE,
        2,
        _key(task_id),
        _owner_key(owner),
        settings.PROGRESS_SNAPSHOT_TTL,
        "" if limit is None else limit,
        now,
        KEY_PREFIX,
        *_encode(fields),
    )
    if raw == [-1]:
        raise ValueError(f"task {task_id} already exists")
    if raw and raw[0] == -2:
        raise TooManyTasks(int(limit or 0))
    snapshot = _decode(raw)
    assert snapshot is not None
    return snapshot


def update(*, task_id: str, **fields: Any) -> Snapshot | None:
    """Change a task's snapshot; None when it is unknown or already terminal (refused)."""
    fields.setdefault("task_id", task_id)
    raw = get_redis().eval(
        _UPDATE, 1, _key(task_id), settings.PROGRESS_SNAPSHOT_TTL, *_encode(fields)
    )
    return _decode(raw)


def read(*, task_id: str) -> Snapshot | None:
    """The task's snapshot with private fields, or None when the id is unknown."""
    return _decode(cast("dict[str, str]", get_redis().hgetall(_key(task_id))))


def seq_of(*, task_id: str) -> int | None:
    """The task's current `seq` (one cheap read), or None when the id is unknown."""
    seq = get_redis().hget(_key(task_id), "seq")
    return int(cast(str, seq)) if seq is not None else None


def recent_task_ids(*, owner: str, limit: int = 20) -> list[str]:
    """The owner's newest task ids, newest first, that still have a snapshot."""
    redis = get_redis()
    task_ids = [str(task_id) for task_id in redis.zrevrange(_owner_key(owner), 0, limit - 1)]
    with redis.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.exists(_key(task_id))
        alive = pipe.execute()
    return [task_id for task_id, exists in zip(task_ids, alive, strict=True) if exists]


def public(snapshot: Snapshot) -> Snapshot:
    """The fields of a snapshot that its owner may see."""
    return {field: snapshot.get(field) for field in PUBLIC_FIELDS}
