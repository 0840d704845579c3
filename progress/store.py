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

# KEYS[1] snapshot hash; ARGV[1] ttl; ARGV[2] "1" = create (fails if it exists);
# ARGV[3..] field/value pairs (values JSON-encoded). Returns the hash, or nil when refused.
_WRITE = """
local exists = redis.call('EXISTS', KEYS[1]) == 1
if ARGV[2] == '1' and exists then return nil end
if exists then
  local state = redis.call('HGET', KEYS[1], 'state')
  if state == '"SUCCESS"' or state == '"FAILURE"' or state == '"REVOKED"' then return nil end
end
redis.call('HINCRBY', KEYS[1], 'seq', 1)
if #ARGV > 2 then redis.call('HSET', KEYS[1], unpack(ARGV, 3)) end
redis.call('EXPIRE', KEYS[1], ARGV[1])
return redis.call('HGETALL', KEYS[1])
"""


def is_valid_task_id(task_id: str) -> bool:
    """True for a well-formed task id (a UUID), whatever its case."""
    return bool(TASK_ID_RE.match(task_id))


def _key(task_id: str) -> str:
    return f"progress:task:{task_id}"


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


def _write(task_id: str, fields: dict[str, Any], *, create: bool = False) -> Snapshot | None:
    if "current" in fields or "total" in fields:
        current, total = fields.get("current", 0), fields.get("total", 0)
        fields.setdefault("percent", percent_of(current, total))
    args: list[Any] = [settings.PROGRESS_SNAPSHOT_TTL, "1" if create else "0"]
    for field, value in fields.items():
        args += [field, json.dumps(value)]
    raw = get_redis().eval(_WRITE, 1, _key(task_id), *args)
    return _decode(raw)


def percent_of(current: float, total: float) -> int:
    """`current / total` as a whole percentage clamped to 0..100."""
    if total <= 0:
        return 0
    return max(0, min(100, int(current * 100 // total)))


def create(*, task_id: str, owner: str) -> Snapshot:
    """Record a new queued task owned by `owner`, before it is sent to the broker."""
    snapshot = _write(
        task_id,
        {
            "task_id": task_id,
            "state": PENDING,
            "current": 0,
            "total": 100,
            "message": "Queued",
            "result": None,
            "error": None,
            "owner": owner,
            "created": time.time(),
        },
        create=True,
    )
    if snapshot is None:
        raise ValueError(f"task {task_id} already exists")
    redis = get_redis()
    owner_key = _owner_key(owner)
    with redis.pipeline() as pipe:
        pipe.zadd(owner_key, {task_id: time.time()})
        pipe.zremrangebyrank(owner_key, 0, -51)  # keep the owner's 50 newest
        pipe.expire(owner_key, settings.PROGRESS_SNAPSHOT_TTL)
        pipe.execute()
    return snapshot


def update(*, task_id: str, **fields: Any) -> Snapshot | None:
    """Change a task's snapshot; None when it is already terminal (the write is refused)."""
    fields.setdefault("task_id", task_id)
    return _write(task_id, fields)


def read(*, task_id: str) -> Snapshot | None:
    """The task's snapshot with private fields, or None when the id is unknown."""
    return _decode(cast("dict[str, str]", get_redis().hgetall(_key(task_id))))


def recent_task_ids(*, owner: str, limit: int = 20) -> list[str]:
    """The owner's newest task ids, newest first, that still have a snapshot."""
    return [str(task_id) for task_id in get_redis().zrevrange(_owner_key(owner), 0, limit - 1)]


def public(snapshot: Snapshot) -> Snapshot:
    """The fields of a snapshot that its owner may see."""
    return {field: snapshot.get(field) for field in PUBLIC_FIELDS}


def unfinished_count(*, owner: str) -> int:
    """How many of the owner's recent tasks are still queued or running."""
    redis = get_redis()
    task_ids = redis.zrange(_owner_key(owner), 0, -1)
    if not task_ids:
        return 0
    with redis.pipeline(transaction=False) as pipe:
        for task_id in task_ids:
            pipe.hget(_key(str(task_id)), "state")
        states = pipe.execute()
    return sum(
        1 for state in states if state is not None and json.loads(state) not in TERMINAL_STATES
    )
