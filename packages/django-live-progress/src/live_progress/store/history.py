"""The task history in the database: a row when a tracked task is created and when it ends.

Redis holds the live snapshot; this table outlives it (expired, flushed, lost), so
finished work is never forgotten. A task started through the API gets its row in the
request that starts it. Everything else (a task's end, a task first heard of through
`progress.set`) is pushed on a Redis list by the same script that stores the change,
and written here in batches by `drain`: by a thread of each worker, every second, and
by every read of the history, so a reader never misses a record. No task waits for
the database, and a database error loses nothing (the batch goes back on the list).
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from celery import signals
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import Field, QuerySet
from django.utils import timezone

from live_progress.conf import conf
from live_progress.models import TaskRun
from live_progress.store import snapshots
from live_progress.store.client import get_redis
from live_progress.store.snapshot import SUCCESS, TERMINAL_STATES, Snapshot, Stored, percent_of

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


DRAIN_BATCH = 500
DRAIN_EVERY = 1.0


def drain(*, limit: int = DRAIN_BATCH) -> int:
    """Write up to `limit` waiting records to the database (one query each way); how many."""
    client = get_redis()
    raw: list[str] = client.lpop(snapshots.history_key(), limit) or []  # type: ignore[assignment]
    if not raw:
        return 0
    latest: dict[str, Stored] = {}
    for text in raw:  # several records of one task: the newest (by seq) wins
        record = json.loads(text)
        seen = latest.get(record["task_id"])
        if seen is None or record.get("seq", 0) >= seen.get("seq", 0):
            latest[record["task_id"]] = record
    try:
        with transaction.atomic():
            _write(latest)
    except DatabaseError:
        logger.warning("could not write %d history records; kept for later", len(raw))
        client.lpush(snapshots.history_key(), *reversed(raw))
        raise
    return len(raw)


def _write(records: dict[str, Stored]) -> None:
    """Insert or update the rows of these records (a row never goes back to an older seq).

    Three statements whatever the batch: which rows exist, one UPDATE run for all of
    them (plain `executemany`: the ORM's bulk_update builds a CASE per field and row,
    which cost a worker a fifth of its time), and one INSERT for the others.
    """
    existing = set(
        TaskRun.objects.filter(task_id__in=list(records)).values_list("task_id", flat=True)
    )
    new = [
        TaskRun(task_id=task_id, created_at=_created_at(record), **_fields(record))
        for task_id, record in records.items()
        if task_id not in existing
    ]
    updates = [
        (record, _fields(record)) for task_id, record in records.items() if task_id in existing
    ]
    if updates:
        names = list(updates[0][1])
        columns = [cast("Field[Any, Any]", TaskRun._meta.get_field(name)) for name in names]
        quote = connection.ops.quote_name
        sql = (
            f"UPDATE {quote(TaskRun._meta.db_table)} SET "
            + ", ".join(f"{quote(str(column.column))} = %s" for column in columns)
            + f" WHERE {quote('task_id')} = %s AND {quote('seq')} <= %s"
        )
        rows = [
            [
                *(column.get_db_prep_save(fields[column.name], connection) for column in columns),
                record["task_id"],
                fields["seq"],
            ]
            for record, fields in updates
        ]
        with connection.cursor() as cursor:
            cursor.executemany(sql, rows)
    TaskRun.objects.bulk_create(new, ignore_conflicts=True)


class Drainer:
    """The thread of a worker's main process that writes the history every second."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="progress-history", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(DRAIN_EVERY):
            self.drain_all()
        self.drain_all()  # what is left at shutdown

    @staticmethod
    def drain_all() -> None:
        try:
            while drain() == DRAIN_BATCH:
                pass
        except Exception:  # Redis or the database away: the records wait on the list
            logger.debug("history drain failed", exc_info=True)
        finally:
            close_old_connections()


_drainer: Drainer | None = None


@signals.worker_ready.connect
def start_drainer(**_: Any) -> None:
    global _drainer
    _drainer = Drainer()
    _drainer.start()


@signals.worker_shutting_down.connect
def stop_drainer(**_: Any) -> None:
    if _drainer is not None:
        _drainer.stop()


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
    """The history row of a task, if it has one (waiting records written first)."""
    _drain_quietly()
    return TaskRun.objects.filter(task_id=task_id).first()


def runs(*, owner: str | None) -> QuerySet[TaskRun]:
    """A reader's tasks, newest first (`owner=None`: everyone's, for staff)."""
    _drain_quietly()
    queryset = TaskRun.objects.all()
    return queryset if owner is None else queryset.filter(owner=owner)


def _drain_quietly() -> None:
    try:
        drain()
    except Exception:  # the read goes on with what the database has
        logger.warning("could not write waiting history records", exc_info=True)


def reassign(*, old_owner: str, new_owner: str) -> int:
    """Give `old_owner`'s rows to `new_owner` (a session's tasks after its login)."""
    _drain_quietly()  # a task that ended a moment ago is moved too
    return TaskRun.objects.filter(owner=old_owner).update(owner=new_owner)


def purge(*, days: float | None = None) -> int:
    """Delete finished tasks older than `days` (PROGRESS_HISTORY_DAYS); how many went."""
    keep = conf.PROGRESS_HISTORY_DAYS if days is None else days
    cutoff = timezone.now() - timedelta(days=keep)
    deleted, _ = TaskRun.objects.filter(state__in=TERMINAL_STATES, created_at__lt=cutoff).delete()
    return deleted
