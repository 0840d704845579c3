"""Tasks' snapshots made directly in the store, for tests that need one without a worker."""

from __future__ import annotations

import uuid
from typing import Any

from progress import store
from progress.snapshot import Stored

# The name a test snapshot carries; no worker has a task by that name.
TEST_TASK = "tests.some_task"


def new_id() -> str:
    """A fresh, well-formed task id."""
    return str(uuid.uuid4())


def create_snapshot(
    *,
    owner: str = "session:tests",
    name: str = TEST_TASK,
    task_id: str | None = None,
    limit: int | None = None,
    indexed: bool = True,
    **fields: Any,
) -> Stored:
    """A queued task's snapshot (PENDING, seq 1) as `progress.start` records it, unsent."""
    return store.create(
        store.new_snapshot(task_id=task_id or new_id(), name=name, owner=owner, **fields),
        limit=limit,
        indexed=indexed,
    )


def create_task(**options: Any) -> str:
    """The id of a new queued task (see `create_snapshot`)."""
    return create_snapshot(**options)["task_id"]
