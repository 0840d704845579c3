"""A task's history record (JSON, from Redis or a request) turned into its `TaskRun` row.

Every write of the history comes here: `upsert` inserts or updates the rows of a batch
of records, keyed by task id, so writing the same record twice changes nothing (the
drain is at-least-once). A row never goes back to an older `seq`, and never loses its
owner to a record that has none (a snapshot made again after Redis lost it). Text is
cleaned first: PostgreSQL refuses NUL characters in text and JSON, and any database
refuses text that is not valid Unicode; a record that still does not fit its columns
raises `Unfit` and is set aside by the drain, never written half.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from live_progress.models import TaskRun
from live_progress.store.snapshot import STATES, Stored


class Unfit(ValueError):
    """A record that cannot be a row as it is (an owner too long for its column, say)."""


def clean(value: Any) -> Any:
    """`value` with every string in it (keys too) stripped of NUL and invalid Unicode."""
    if isinstance(value, str):
        if value.isascii():
            return value.replace("\x00", "")
        return value.replace("\x00", "").encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {clean(key): clean(item) for key, item in value.items()}
    if isinstance(value, list):
        return [clean(item) for item in value]
    return value


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _fitting(name: str, value: str) -> str:
    limit = cast("Field[Any, Any]", TaskRun._meta.get_field(name)).max_length
    if limit is not None and len(value) > limit:
        raise Unfit(f"{name} is longer than its column ({len(value)} > {limit} characters)")
    return value


def fields(record: Stored | dict[str, Any]) -> dict[str, Any]:
    """The row's values from a record, cleaned; raises Unfit when one does not fit."""
    stored = cast("dict[str, Any]", clean(record))
    if stored.get("state") not in STATES:
        raise Unfit(f"no such state: {stored.get('state')!r}")
    return {
        "owner": _fitting("owner", stored.get("owner") or ""),
        "name": (stored.get("name") or "")[:200],
        "state": stored["state"],
        "current": float(stored.get("current") or 0),
        "total": float(stored.get("total") or 0),
        "message": (stored.get("message") or "")[:500],
        "result": stored.get("result"),
        "error": stored.get("error") or "",
        "children": stored.get("children"),
        "seq": int(stored.get("seq") or 0),
        "started_at": _when(stored.get("started_at")),
        "finished_at": _when(stored.get("finished_at")),
    }


def created_at(record: Stored | dict[str, Any]) -> datetime:
    """When the task was created (the record's `created` epoch, else its start, else now)."""
    created = record.get("created")
    if created:
        return datetime.fromtimestamp(created, tz=timezone.get_current_timezone())
    return _when(record.get("started_at")) or timezone.now()


def upsert(records: dict[str, dict[str, Any]]) -> None:
    """Insert or update the rows of these records (task id -> its newest record).

    Three statements whatever the batch: which rows exist, one UPDATE run for all of
    them (plain `executemany`: the ORM's bulk_update builds a CASE per field and row,
    which cost a worker a fifth of its time), and one INSERT for the others. Call it
    inside a transaction; raises Unfit for a record that cannot be a row.
    """
    values = {task_id: fields(record) for task_id, record in records.items()}
    existing = set(
        TaskRun.objects.filter(task_id__in=list(records)).values_list("task_id", flat=True)
    )
    new = [
        TaskRun(
            task_id=_fitting("task_id", task_id),
            created_at=created_at(record),
            kwargs_summary=_fitting("kwargs_summary", clean(record.get("kwargs_summary") or "")),
            **values[task_id],
        )
        for task_id, record in records.items()
        if task_id not in existing
    ]
    updates = [(task_id, values[task_id]) for task_id in records if task_id in existing]
    if updates:
        _update(updates)
    # No `ignore_conflicts`: SQLite's INSERT OR IGNORE would drop a row its CHECKs refuse
    # without a word. A row another writer inserted meanwhile fails the batch, and the
    # drain's second pass, row by row, updates it.
    TaskRun.objects.bulk_create(new)


def _update(updates: list[tuple[str, dict[str, Any]]]) -> None:
    """One UPDATE per row, sent at once; a row with a newer `seq` is left as it is, and an
    empty owner keeps the row's own."""
    names = list(updates[0][1])
    columns = [cast("Field[Any, Any]", TaskRun._meta.get_field(name)) for name in names]
    quote = connection.ops.quote_name
    assignments = [
        f"{quote(str(column.column))} = COALESCE(NULLIF(%s, ''), {quote(str(column.column))})"
        if column.name == "owner"
        else f"{quote(str(column.column))} = %s"
        for column in columns
    ]
    sql = (
        f"UPDATE {quote(TaskRun._meta.db_table)} SET "
        + ", ".join(assignments)
        + f" WHERE {quote('task_id')} = %s AND {quote('seq')} <= %s"
    )
    rows = [
        [
            *(column.get_db_prep_save(values[column.name], connection) for column in columns),
            task_id,
            values["seq"],
        ]
        for task_id, values in updates
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def reassign(task_ids: list[str], *, old_owner: str, new_owner: str) -> None:
    """Give these rows, where `old_owner` still holds them, to `new_owner`."""
    TaskRun.objects.filter(task_id__in=task_ids, owner=old_owner).update(owner=new_owner)
