"""Reads and moves across tasks, through the store's indexes: everyone's unfinished tasks,
and an owner's tasks given to another at a login."""

from __future__ import annotations

import json

from live_progress.conf import conf
from live_progress.store import lua_create
from live_progress.store.client import get_redis, run_script
from live_progress.store.keys import TASK_PREFIX, UNFINISHED_KEY, active_key, moved_key, owner_key
from live_progress.store.snapshot import TERMINAL_STATES, Stored
from live_progress.store.snapshots import read_many


def unfinished(*, limit: int = 1000) -> list[Stored]:
    """Tasks started through `progress.start` that have not ended, oldest first.

    The ids among the oldest `limit` whose snapshot expired without an end (a lost
    worker's) leave the index here, so that it cannot fill up with them where no limit
    reads it through, and the next call reads further."""
    redis = get_redis()
    ids = [str(i) for i in redis.zrange(UNFINISHED_KEY, 0, limit - 1)]
    found = read_many(ids)
    if gone := [i for i in ids if i not in found]:
        redis.zrem(UNFINISHED_KEY, *gone)
    return [s for i in ids if (s := found.get(i)) is not None and s["state"] not in TERMINAL_STATES]


def reassign(*, old_owner: str, new_owner: str) -> list[str]:
    """Give every task of `old_owner` that Redis still holds to `new_owner` (a login)."""
    moved = run_script(
        lua_create.REASSIGN,
        [
            owner_key(old_owner),
            owner_key(new_owner),
            active_key(old_owner),
            active_key(new_owner),
            moved_key(old_owner),
        ],
        TASK_PREFIX,
        json.dumps(new_owner),
        conf.PROGRESS_SNAPSHOT_TTL,
    )
    return [str(task_id) for task_id in moved]
