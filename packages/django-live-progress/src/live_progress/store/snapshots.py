"""Task snapshots in Redis: every read and write of live progress state happens here.

A snapshot is one Redis hash per task, each value JSON-encoded. Every write bumps its
`seq` atomically, so clients can drop messages that arrive out of order, and once a
task has reached a terminal state later writes (a late coalesced value, say) are
refused. A subtask of a group also folds its progress into its parent's hash, in the
same script, so the group's aggregate can never miss or double-count a child. The
scripts themselves are in lua.py; this module is their Python face.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple, cast

from django.db import connection

from live_progress.conf import conf
from live_progress.exceptions import (
    QueueFull,
    TaskEnded,
    TaskExists,
    TaskUnknown,
    TooManyTasks,
    TooManyTasksFromAddress,
)
from live_progress.store import lua, lua_create
from live_progress.store.client import get_redis, run_script, run_scripts
from live_progress.store.keys import EVENTS_PREFIX as EVENTS_PREFIX
from live_progress.store.keys import TASK_PREFIX, active_key, address_key, owner_key
from live_progress.store.keys import UNFINISHED_KEY as UNFINISHED_KEY
from live_progress.store.lua import PUBLISHED_FIELDS as PUBLISHED_FIELDS
from live_progress.store.snapshot import (
    PENDING,
    Child,
    Stored,
    percent_of,
)

KEY_PREFIX: Final = TASK_PREFIX

# The Redis keys and channels (keys.py); the scripts that use them are in lua.py and
# lua_create.py.


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
    together reach `queued_limit`, and TaskExists when the id exists. `indexed=False` (a
    group's subtask) keeps it out of the indexes and the history, so only the group
    counts against limits. The task's history record waits in Redis for the next drain.
    Returns the snapshot as stored, with its `queue_position` when it has a queue.
    """
    if address is None or not indexed:
        address_limit = None
    if address_limit is not None:
        fields = {**fields, "address": address}
    pairs = _encode(dict(fields))
    keys, args = _create_call(
        fields, pairs, indexed=indexed, limits=(limit, address_limit, queued_limit), address=address
    )
    raw = run_script(lua_create.CREATE, keys, *args)
    if raw == [-1]:
        raise TaskExists(f"task {fields['task_id']} already exists")
    if raw[0] == -2:
        raise TooManyTasks(int(limit or 0))
    if raw[0] == -3:
        raise TooManyTasksFromAddress(int(address_limit or 0))
    if raw[0] == -4:
        raise QueueFull(int(queued_limit or 0))
    # The hash holds what was sent: read back here, not from Redis.
    stored = decode(["seq", "1", *pairs])
    assert stored is not None
    if raw[1] >= 0:
        stored["queue_position"] = int(raw[1])
    return stored


def create_parts(parts: list[dict[str, Any]]) -> None:
    """Record a group's subtasks (see `new_snapshot`, each with its `parent`) in one round
    trip, as `create(fields, indexed=False)` would one by one: kept out of the indexes and
    the history, since their group counts. Raises TaskExists when an id exists."""
    calls = [_create_call(fields, _encode(fields), indexed=False) for fields in parts]
    for fields, raw in zip(parts, run_scripts(lua_create.CREATE, calls), strict=True):
        if raw == [-1]:
            raise TaskExists(f"task {fields['task_id']} already exists")


def _create_call(
    fields: dict[str, Any],
    pairs: list[str],
    *,
    indexed: bool,
    limits: tuple[int | None, int | None, int | None] = (None, None, None),
    address: str | None = None,
) -> tuple[list[str], list[str | int | float]]:
    """CREATE's keys and arguments for a task; `limits`: its owner's, its address's and
    everyone's (None for none)."""
    limit, address_limit, queued_limit = ("" if value is None else value for value in limits)
    keys = [
        key(fields["task_id"]),
        owner_key(fields["owner"]),
        address_key(address or ""),
        UNFINISHED_KEY,
        active_key(fields["owner"]),
        history_key(),
    ]
    args: list[str | int | float] = [
        conf.PROGRESS_SNAPSHOT_TTL,
        limit,
        fields["created"],
        KEY_PREFIX,
        "1" if indexed else "0",
        address_limit,
        queued_limit,
        *pairs,
    ]
    return keys, args


class Written(NamedTuple):
    """A written change: the task's snapshot, its group's when it moved, whether it is new."""

    snapshot: Stored
    parent: Stored | None
    created: bool


def record(
    task_id: str,
    *,
    parent: str | None = None,
    create_as: dict[str, Any] | None = None,
    **fields: Any,
) -> Written:
    """Store a change of a task's snapshot and publish it (and its group's aggregate).

    The one way a task's state changes: the worker's lifecycle, `progress.set` and a
    cancel from the web all come here, and one script stores the change, publishes it
    and pushes the history record of a created or ended task. `create_as`: the fields of
    a new snapshot, used when the task has none yet (a task that reports progress
    without having been started here). Raises TaskUnknown (no snapshot, and `create_as`
    not given) or TaskEnded (already terminal; its state said); Redis errors propagate.
    """
    raw = _write(task_id, parent, create_as, fields, read_back=True)
    stored = decode(raw[1])
    assert stored is not None
    return Written(stored, decode(raw[2]) if len(raw) > 2 else None, bool(raw[0]))


def change(
    task_id: str,
    *,
    parent: str | None = None,
    create_as: dict[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """`record`, without reading the snapshot back: for the worker, which only needs to know
    the change was taken. Whether it created the snapshot; raises as `record` does."""
    return bool(_write(task_id, parent, create_as, fields, read_back=False)[0])


def _write(
    task_id: str,
    parent: str | None,
    create_as: dict[str, Any] | None,
    fields: dict[str, Any],
    *,
    read_back: bool,
) -> list[Any]:
    now = json.dumps(now_iso())
    defaults = _encode(create_as) if create_as is not None else []
    raw: list[Any] = run_script(
        lua.WRITE,
        [key(task_id), key(parent) if parent else key(task_id), history_key()],
        conf.PROGRESS_SNAPSHOT_TTL,
        "1" if create_as is not None else "0",
        parent or "",
        now,
        KEY_PREFIX,
        len(defaults),
        "1" if read_back else "0",
        *defaults,
        *_encode(fields),
    )
    if raw[0] == -1:
        raise TaskUnknown(task_id)
    if raw[0] == -2:
        raise TaskEnded(task_id, json.loads(raw[1]))
    return raw


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


def seq_of(*, task_id: str) -> int | None:
    """The task's current `seq` (one cheap read), or None when the id is unknown."""
    seq = get_redis().hget(key(task_id), "seq")
    return int(cast(str, seq)) if seq is not None else None


def children_of(stored: Stored) -> list[Child]:
    """The subtasks a group's snapshot lists (empty for a single task)."""
    return list(stored.get("children") or [])
