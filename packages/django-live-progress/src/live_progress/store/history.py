"""The task history in the database: a row when a tracked task is created and when it ends.

Redis holds the live snapshot; this table outlives it (expired, flushed, lost), so
finished work is never forgotten. Every record (a task created by `progress.start` or
first heard of through `progress.set`, a task's end) is pushed on a Redis list by the
same script that stores the change, and written here in batches by `drain`
(store/drain.py): by a thread of each worker, every second, and by every read of the
history, so a reader never misses a record. Neither a start nor a task waits for the
database, and a database error loses nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from live_progress.conf import conf
from live_progress.models import TaskRun
from live_progress.store import keys, snapshots
from live_progress.store.client import get_redis
from live_progress.store.drain import dead_letters as dead_letters
from live_progress.store.drain import drain as drain
from live_progress.store.drain import drain_quietly
from live_progress.store.drain import waiting as waiting
from live_progress.store.snapshot import SUCCESS, TERMINAL_STATES, Snapshot, Stored, percent_of

logger = logging.getLogger(__name__)


def summarize(kwargs: dict[str, Any] | None) -> str:
    """A short, readable summary of a task's arguments for the history list."""
    if not kwargs:
        return ""
    text = json.dumps(kwargs, default=repr, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def snapshot_of(run: TaskRun) -> Snapshot:
    """A task's snapshot rebuilt from its history row (Redis no longer has it)."""
    return {
        "task_id": run.task_id,
        "name": run.name,
        "state": run.state,
        "current": run.current,
        "total": run.total,
        "percent": 100 if run.state == SUCCESS else percent_of(run.current, run.total),
        "message": run.message,
        "result": run.result,
        "error": run.error or None,
        "seq": run.seq,
        "workers_online": None,
        "queue_position": None,
        "started_at": _iso(run.started_at),
        "updated_at": _iso(run.finished_at or run.started_at or run.created_at),
        "finished_at": _iso(run.finished_at),
        "children": run.children,
    }


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="microseconds") if value else None


def find(task_id: str) -> TaskRun | None:
    """The history row of a task, if it has one (waiting records written first)."""
    drain_quietly()
    return TaskRun.objects.filter(task_id=task_id).first()


def owner_of(task_id: str) -> str:
    """The owner a task's row names ("" without a row), read without draining first: for a
    worker's task thread, which must not take on the history's pending writes."""
    owner = TaskRun.objects.filter(task_id=task_id).values_list("owner", flat=True).first()
    return owner or ""


def runs(*, owner: str | None) -> QuerySet[TaskRun]:
    """A reader's tasks, newest first (`owner=None`: everyone's, for staff)."""
    drain_quietly()
    queryset = TaskRun.objects.all()
    return queryset if owner is None else queryset.filter(owner=owner)


def unwritten(*, owner: str | None, since: float | None, listed: set[str]) -> list[Stored]:
    """The reader's tasks that Redis has and the history has no row of yet (its write at
    start failed, and the database refused it since), newest first.

    `owner=None`: everyone's unfinished tasks. `since`: only tasks created at or after
    this epoch (newer than a page's oldest row), `listed` (that page's ids) left out: one
    Redis round trip is the whole cost when nothing is missing.
    """
    index = snapshots.UNFINISHED_KEY if owner is None else keys.owner_key(owner)
    low: float | str = "-inf" if since is None else since
    found = get_redis().zrevrangebyscore(index, "+inf", low, start=0, num=50)
    ids = [str(i) for i in found if str(i) not in listed]
    if not ids:
        return []
    written = set(TaskRun.objects.filter(task_id__in=ids).values_list("task_id", flat=True))
    live = snapshots.read_many([i for i in ids if i not in written])
    return [stored for stored in live.values() if owner is None or stored.get("owner") == owner]


def reassign(*, old_owner: str, new_owner: str) -> int:
    """Give `old_owner`'s rows to `new_owner` (a session's tasks after its login)."""
    drain_quietly()  # a task that ended a moment ago is moved too
    return TaskRun.objects.filter(owner=old_owner).update(owner=new_owner)


def purge(*, days: float | None = None) -> int:
    """Delete finished tasks older than `days` (PROGRESS_HISTORY_DAYS); how many went."""
    keep = conf.PROGRESS_HISTORY_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = TaskRun.objects.filter(state__in=TERMINAL_STATES, created_at__lt=cutoff).delete()
    return deleted
