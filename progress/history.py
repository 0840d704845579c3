"""The task history in the database: a row when a tracked task is created and when it ends.

Redis holds the live snapshot; this table outlives it (expired, flushed, lost), so
finished work is never forgotten. Writes never break a task: a database error is
logged and the task goes on.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import DatabaseError
from django.db.models import QuerySet
from django.utils import timezone

from .conf import conf
from .models import TaskRun
from .snapshot import SUCCESS, TERMINAL_STATES, Snapshot, Stored, percent_of

logger = logging.getLogger(__name__)


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def summarize(kwargs: dict[str, Any] | None) -> str:
    """A short, readable summary of a task's arguments for the history list."""
    if not kwargs:
        return ""
    text = json.dumps(kwargs, default=repr, sort_keys=True)
    return text if len(text) <= 300 else text[:297] + "..."


def _fields(stored: Stored) -> dict[str, Any]:
    return {
        "owner": stored.get("owner") or "",
        "name": stored.get("name") or "",
        "state": stored["state"],
        "current": stored.get("current") or 0,
        "total": stored.get("total") or 0,
        "message": (stored.get("message") or "")[:500],
        "result": stored.get("result"),
        "error": stored.get("error") or "",
        "children": stored.get("children"),
        "seq": stored.get("seq") or 0,
        "started_at": _when(stored.get("started_at")),
        "finished_at": _when(stored.get("finished_at")),
    }


def created(stored: Stored, *, kwargs: dict[str, Any] | None = None) -> None:
    """Record a task that was just created (queued through the API, or first heard of)."""
    try:
        TaskRun.objects.update_or_create(
            task_id=stored["task_id"],
            defaults=_fields(stored),
            create_defaults={
                **_fields(stored),
                "kwargs_summary": summarize(kwargs),
                "created_at": _created_at(stored),
            },
        )
    except DatabaseError:
        logger.warning("could not record task %s in the history", stored["task_id"], exc_info=True)


def finished(stored: Stored) -> None:
    """Record how a task ended (its terminal snapshot)."""
    if stored["state"] not in TERMINAL_STATES:
        return
    try:
        TaskRun.objects.update_or_create(
            task_id=stored["task_id"],
            defaults=_fields(stored),
            create_defaults={**_fields(stored), "created_at": _created_at(stored)},
        )
    except DatabaseError:
        logger.warning("could not record the end of %s", stored["task_id"], exc_info=True)


def _created_at(stored: Stored) -> datetime:
    created = stored.get("created")
    if created:
        return datetime.fromtimestamp(created, tz=timezone.get_current_timezone())
    return _when(stored.get("started_at")) or timezone.now()


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
    """The history row of a task, if it has one."""
    return TaskRun.objects.filter(task_id=task_id).first()


def runs(*, owner: str | None) -> QuerySet[TaskRun]:
    """A reader's tasks, newest first (`owner=None`: everyone's, for staff)."""
    queryset = TaskRun.objects.all()
    return queryset if owner is None else queryset.filter(owner=owner)


def reassign(*, old_owner: str, new_owner: str) -> int:
    """Give `old_owner`'s rows to `new_owner` (a session's tasks after its login)."""
    return TaskRun.objects.filter(owner=old_owner).update(owner=new_owner)


def purge(*, days: float | None = None) -> int:
    """Delete finished tasks older than `days` (PROGRESS_HISTORY_DAYS); how many went."""
    keep = conf.PROGRESS_HISTORY_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = TaskRun.objects.filter(state__in=TERMINAL_STATES, created_at__lt=cutoff).delete()
    return deleted
