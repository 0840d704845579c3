"""The snapshot: what a client sees of one task, over HTTP and every WebSocket message."""

from __future__ import annotations

import re
from typing import Any, Final, TypedDict

PENDING: Final = "PENDING"
STARTED: Final = "STARTED"
PROGRESS: Final = "PROGRESS"
RETRY: Final = "RETRY"
SUCCESS: Final = "SUCCESS"
FAILURE: Final = "FAILURE"
REVOKED: Final = "REVOKED"
STATES: Final = (PENDING, STARTED, PROGRESS, RETRY, SUCCESS, FAILURE, REVOKED)
TERMINAL_STATES: Final = frozenset({SUCCESS, FAILURE, REVOKED})

# Celery task ids are UUIDs; anything else is refused before it reaches Redis.
TASK_ID_RE: Final = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class Child(TypedDict):
    """One subtask of a group or chord, as its parent's snapshot lists it."""

    task_id: str
    name: str
    state: str
    current: float
    total: float
    percent: int


class Snapshot(TypedDict):
    """The public state of one task (the contract's fields, in the contract's order)."""

    task_id: str
    name: str
    state: str
    current: float
    total: float
    percent: int
    message: str
    result: Any
    error: str | None
    seq: int
    workers_online: int | None
    queue_position: int | None
    started_at: str | None
    updated_at: str | None
    finished_at: str | None
    children: list[Child] | None


class Stored(Snapshot, total=False):
    """A snapshot as the store keeps it: the public fields plus private bookkeeping."""

    owner: str  # "user:<pk>", "session:<token>", or "" for a task nobody started here
    created: float  # epoch seconds, for "queued for N s"
    queue: str  # the queue it was sent to
    parent: str  # the group's task id, for a subtask
    callback: bool  # a group whose chord callback ends it (else its last subtask does)
    address: str  # the client address whose limit it counts against, if one does
    kwargs_summary: str  # its arguments as the history shows them (see history.summarize)


PUBLIC_FIELDS: Final = tuple(Snapshot.__annotations__)
LIVE_FIELDS: Final = ("workers_online", "queue_position")


def is_valid_task_id(task_id: str) -> bool:
    """True for a well-formed task id (a UUID), whatever its case."""
    return bool(TASK_ID_RE.match(task_id))


def percent_of(current: float, total: float) -> int:
    """`current / total` as a whole percentage clamped to 0..100."""
    if total <= 0:
        return 0
    return max(0, min(100, int(current * 100 // total)))


def public(stored: Stored) -> Snapshot:
    """The fields of a stored snapshot that its readers may see (missing ones null)."""
    data: dict[str, Any] = {field: stored.get(field) for field in PUBLIC_FIELDS}
    return data  # type: ignore[return-value]
