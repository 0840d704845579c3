"""The one way a task's state changes: write the snapshot, publish it, keep the history.

Everything that moves a task (the worker's lifecycle, `progress.set`, a cancel from the
web) goes through `record`, so a change is never stored without being published, and a
task never ends without its history record (the store's script does all three in one
step; the record reaches the database in a batch, see `history.drain`).
"""

from __future__ import annotations

from typing import Any

from . import store
from .snapshot import Stored


def record(
    task_id: str,
    *,
    parent: str | None = None,
    create_as: dict[str, Any] | None = None,
    **fields: Any,
) -> Stored | None:
    """Store a change of `task_id`'s snapshot and publish it (and its group's aggregate).

    `create_as`: the fields of a new snapshot, used when the task has none yet (a task
    that reports progress without having been started through the API). Returns the
    new snapshot, or None when refused: the task is unknown (and `create_as` not given)
    or already ended. Redis errors propagate: the caller decides to retry or give up.
    """
    outcome = store.write(task_id=task_id, parent=parent, create_as=create_as, **fields)
    if outcome is None:
        return None
    return outcome[0]
