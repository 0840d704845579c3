"""Tasks' snapshots made directly in the store, for tests that need one without a worker."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from live_progress.store import lua, snapshots
from live_progress.store.client import get_redis
from live_progress.store.snapshot import Stored

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
    return snapshots.create(
        snapshots.new_snapshot(task_id=task_id or new_id(), name=name, owner=owner, **fields),
        limit=limit,
        indexed=indexed,
    )


def create_task(**options: Any) -> str:
    """The id of a new queued task (see `create_snapshot`)."""
    return create_snapshot(**options)["task_id"]


class Published:
    """What Redis publishes on some tasks' channels, as a web process's hub receives it."""

    def __init__(self, task_ids: list[str]) -> None:
        self.pubsub = get_redis().pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        self.pubsub.subscribe(*(snapshots.events_channel(task_id) for task_id in task_ids))

    def next(self, timeout: float = 10) -> dict[str, Any]:
        """The next published snapshot; fails after `timeout` seconds without one."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.pubsub.get_message(timeout=0.5)
            if message is not None:
                seq, state, _at, text = lua.split_event(message["data"])
                snapshot = dict(json.loads(text))
                assert (snapshot["seq"], snapshot["state"]) == (seq, state)
                return snapshot
        raise AssertionError(f"nothing published within {timeout} s")

    def close(self) -> None:
        self.pubsub.close()
