"""`progress.set()`: report a task's progress from inside any Celery task.

    from live_progress import progress

    @shared_task
    def resize_photos(ids):
        for i, photo_id in enumerate(ids, start=1):
            resize(photo_id)
            progress.set(i, total=len(ids), message=f"Photo {i}")

It works however the task was sent (`.delay()`, `apply_async`, a chain, a group, beat):
a task started through `progress.start` already has a snapshot with its owner; any
other task gets one on its first call, with no owner (only staff may read it).
A task that never calls it costs nothing.

Calls are coalesced: at most one write to Redis (and one WebSocket message) per
`PROGRESS_PUBLISH_INTERVAL` (50 ms) per task, however tight the loop. The latest
value is always written: a trailing write follows within one interval, and the
task's end flushes it before the terminal state.

Cancelling is cooperative: once the task is cancelled (its snapshot says REVOKED),
the next `progress.set()` raises `TaskCancelled`, which ends the task quietly.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

from celery import current_task
from celery.exceptions import Ignore

from live_progress.conf import conf
from live_progress.exceptions import TaskEnded, TaskUnknown
from live_progress.store import history, snapshots
from live_progress.store.snapshot import PROGRESS, REVOKED
from live_progress.tracking import tracking

logger = logging.getLogger(__name__)

# After a failed write (Redis away), wait this long before the next try: the task keeps
# its pace instead of waiting out a connection timeout on every interval.
RETRY_WRITE_AFTER = 1.0


class TaskCancelled(Ignore):
    """Raised by `progress.set()` in a task that was cancelled: Celery ends it quietly."""


class Recorder:
    """Coalesces the progress of one task run into a bounded number of writes."""

    def __init__(
        self, task_id: str, *, name: str = "", parent: str | None = None, interval: float
    ) -> None:
        self.task_id = task_id
        self.name = name
        self.parent = parent
        self.interval = interval
        self.cancelled = False
        self.closed = False
        # Whether the task has a snapshot: until it does, each write carries the fields of
        # a new one (a task nobody started here); after, a write sends only what changed.
        self.exists = False
        self.lost = False  # its snapshot vanished mid-task (evicted, flushed)
        self.total: float | None = None
        self._lock = threading.Lock()
        self._pending: dict[str, Any] | None = None
        self._next_at = 0.0
        self._timer: threading.Timer | None = None

    def set(self, current: float, total: float = 100, message: str = "") -> None:
        """Record the latest progress; write it now or within one interval."""
        if self.cancelled:
            raise TaskCancelled(f"task {self.task_id} was cancelled")
        with self._lock:
            self.total = total
            self._pending = {"current": current, "total": total, "message": message}
            now = time.monotonic()
            if now >= self._next_at:
                self._flush_locked(now)
            elif self._timer is None:
                self._schedule_locked(self._next_at - now)

    def _on_timer(self) -> None:
        """The trailing write: the pending value once its interval is over."""
        with self._lock:
            self._timer = None
            if self._pending is None:
                return
            now = time.monotonic()
            if now >= self._next_at:
                self._flush_locked(now)
            else:  # a direct write got there first: wait for the next window
                self._schedule_locked(self._next_at - now)

    def _schedule_locked(self, delay: float) -> None:
        self._timer = threading.Timer(delay, self._on_timer)
        self._timer.daemon = True
        self._timer.start()

    def close(self) -> None:
        """Stop the trailing timer and write what is pending: called when the task ends."""
        with self._lock:
            self.closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._pending is not None:
                self._flush_locked(time.monotonic())

    def _owner_again(self) -> str:
        """The owner of a task whose snapshot vanished, from its history row ("" if none)."""
        try:
            return history.owner_of(self.task_id)
        except Exception:  # the database away too: the row keeps its owner (see history)
            logger.warning("could not read the owner of %s", self.task_id, exc_info=True)
            return ""

    def _flush_locked(self, now: float) -> None:
        fields = self._pending
        assert fields is not None
        create_as = None
        if not self.exists:
            create_as = snapshots.new_snapshot(
                task_id=self.task_id,
                name=self.name,
                owner=self._owner_again() if self.lost else "",
                started_at=snapshots.now_iso(),
                message="",
            )
        try:
            snapshots.change(
                self.task_id, parent=self.parent, create_as=create_as, state=PROGRESS, **fields
            )
        except TaskUnknown:
            # The snapshot is gone (expired, flushed): write the same value again, making
            # the snapshot anew, for its owner still (the history row says who that is).
            self.exists, self.lost = False, True
            self._flush_locked(now)
            return
        except TaskEnded as ended:
            # The task has ended; it stops only if it was cancelled.
            self._pending = None
            self.exists = True
            self.cancelled = ended.state == REVOKED
            return
        except Exception:  # Redis away: the task goes on, progress resumes when it is back
            logger.warning("could not store progress of %s", self.task_id, exc_info=True)
            self._next_at = now + RETRY_WRITE_AFTER  # keep the value for the next try
            return
        self._pending = None
        self._next_at = now + self.interval
        self.exists = True


_recorders: dict[str, Recorder] = {}
_recorders_lock = threading.Lock()
# The running task's recorder, per worker thread: `progress.set` in a tight loop then
# costs a thread-local read instead of Celery's `current_task` proxy lookup (~2 µs).
_local = threading.local()


def _after_fork_in_child() -> None:
    """A forked pool process starts with no recorders and an unheld lock."""
    global _recorders_lock
    _recorders_lock = threading.Lock()
    _recorders.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def enter_task(
    task_id: str,
    *,
    name: str = "",
    parent: str | None = None,
    cancelled: bool = False,
    exists: bool = False,
) -> Recorder:
    """A task starts in this thread: `progress.set` now reports for it (`exists`: its
    snapshot is known to be there)."""
    recorder = Recorder(task_id, name=name, parent=parent, interval=conf.PROGRESS_PUBLISH_INTERVAL)
    recorder.cancelled = cancelled
    recorder.exists = exists
    with _recorders_lock:
        _recorders[task_id] = recorder
    _local.recorder = recorder
    return recorder


def has_recorder(task_id: str) -> bool:
    """Whether the task has reported progress (or was entered) in this process."""
    return task_id in _recorders


def close_recorder(task_id: str) -> Recorder | None:
    """Flush and forget a task's recorder (the task has ended); returns it, if any."""
    with _recorders_lock:
        recorder = _recorders.pop(task_id, None)
    if recorder is not None:
        if getattr(_local, "recorder", None) is recorder:
            _local.recorder = None
        recorder.close()
    return recorder


class CurrentTaskProgress:
    """`progress.set(i)` for whichever Celery task is running in this thread."""

    def set(self, current: float, total: float = 100, message: str = "") -> None:
        """Report `current` out of `total`; a no-op outside a worker (a direct call)."""
        recorder: Recorder | None = getattr(_local, "recorder", None)
        if recorder is None or recorder.closed:
            recorder = self._recorder_of_current_task()
            if recorder is None:
                return
        recorder.set(current, total, message)

    @staticmethod
    def _recorder_of_current_task() -> Recorder | None:
        """The first call in a task that was not started through the API."""
        task = current_task
        request = getattr(task, "request", None)
        task_id = getattr(request, "id", None)
        if not task_id:
            return None
        with _recorders_lock:
            recorder = _recorders.get(task_id)
        if recorder is None:
            header = tracking(request) or {}
            recorder = enter_task(task_id, name=task.name, parent=header.get("parent"))
        _local.recorder = recorder
        return recorder


progress = CurrentTaskProgress()
