"""The live part of a snapshot: workers online and queue position, plus a project's extras.

The app counts workers from their heartbeats (`store.workers`) and reads a queued task's
position from its queue's sorted set, kept by the store's scripts. No task costs a Redis
command of its own: the count and each queue's order are read once per process per
quarter second and shared. A project may add fields (a `message` saying why a task
waits, say) with the setting PROGRESS_LIVE_FIELDS, a callable(stored) -> dict.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any

from celery import current_app
from django.utils.module_loading import import_string

from live_progress.conf import conf
from live_progress.store.client import get_redis
from live_progress.store.keys import queued_key
from live_progress.store.snapshot import PENDING, Snapshot, Stored, public
from live_progress.store.workers import cached_workers_online

if TYPE_CHECKING:
    from redis import Redis

LiveFields = Callable[[Stored], dict[str, Any]]


def queue_for(task_name: str) -> str:
    """The queue Celery routes `task_name` to (task_routes, else the default queue)."""
    route = current_app.amqp.router.route({}, task_name)
    return str(route["queue"].name)


class _Positions:
    """Each queue's order, read once per process per quarter second (one ZRANGE a queue).

    A web process asks for the position of every queued task its sockets show, every
    half second: from this one read, however many they are. A task not in the last read
    (just queued) is asked for on its own, so a fresh answer is never stale.
    """

    MAX_AGE = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, dict[str, int]]] = {}

    def rank(self, redis: Redis, queue: str, task_id: str) -> int | None:
        with self._lock:
            at, ranks = self._read.get(queue, (-1e9, {}))
            if time.monotonic() - at > self.MAX_AGE:
                members = redis.zrange(queued_key(queue), 0, -1)
                ranks = {str(member): rank for rank, member in enumerate(members)}
                self._read[queue] = (time.monotonic(), ranks)
        if task_id in ranks:
            return ranks[task_id]
        rank: int | None = redis.zrank(queued_key(queue), task_id)  # type: ignore[assignment]
        return rank

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._read = {}


_positions = _Positions()
os.register_at_fork(after_in_child=_positions.after_fork)


def queue_position(stored: Stored) -> int | None:
    """How many tracked tasks wait ahead of a queued one in its queue (None once started)."""
    if stored.get("state") != PENDING:
        return None
    if stored.get("queue_position") is not None:  # just created: the script said it
        return stored["queue_position"]
    queue = stored.get("queue") or queue_for(stored.get("name") or "")
    return _positions.rank(get_redis(), queue, stored["task_id"])


def workers_online() -> int:
    """How many workers are online (their heartbeats), shared by the process for 0.25 s."""
    return cached_workers_online()


@cache
def _hook(path: str | None) -> LiveFields | None:
    return import_string(path) if path else None


def live_fields(stored: Stored) -> dict[str, Any]:
    """`workers_online` and `queue_position` for this snapshot, with the project's extras."""
    fields: dict[str, Any] = {
        "workers_online": workers_online(),
        "queue_position": queue_position(stored),
    }
    hook = _hook(conf.PROGRESS_LIVE_FIELDS)
    if hook is not None:
        fields.update(hook(stored))
    return fields


def with_live_fields(stored: Stored) -> Snapshot:
    """The public snapshot with its live fields filled in."""
    data = public(stored)
    data.update(live_fields(stored))  # type: ignore[typeddict-item]
    return data
