"""live_progress/worker/recorder.py: `progress.set` in tasks sent any way, run by a real worker."""

from __future__ import annotations

import time
from datetime import datetime

from processes import Proc, wait_for
from testproject import tasks

from live_progress import progress
from live_progress.store import snapshots
from live_progress.store.snapshot import TERMINAL_STATES, Stored


def ended(task_id: str) -> Stored:
    def done() -> Stored | None:
        stored = snapshots.read(task_id=task_id)
        return stored if stored and stored["state"] in TERMINAL_STATES else None

    result: Stored = wait_for(done, timeout=60, what=f"task {task_id} to end")
    return result


def test_a_delayed_task_that_reports_progress_gets_a_snapshot_nobody_owns(worker: Proc) -> None:
    task_id = tasks.count.delay(steps=5).id
    stored = ended(task_id)
    assert stored["state"] == "SUCCESS"
    assert (stored["current"], stored["total"], stored["percent"]) == (5, 5, 100)
    assert stored["result"] == 5
    assert stored["message"] == "Done"
    assert stored["owner"] == ""  # only staff may read it
    assert stored["name"] == "testproject.tasks.count"
    assert stored["started_at"] and stored["finished_at"]


def test_a_task_that_never_reports_progress_gets_no_snapshot(worker: Proc) -> None:
    silent = tasks.silent.delay()
    wait_for(lambda: f"[{silent.id}] succeeded" in worker.log(), what="the silent task's end")
    assert snapshots.read(task_id=silent.id) is None


def test_a_tight_loop_writes_a_bounded_number_of_times_and_its_last_value(worker: Proc) -> None:
    calls = 200_000
    stored = ended(tasks.tight_loop.delay(calls).id)
    assert stored["state"] == "SUCCESS"
    assert stored["current"] == calls
    assert stored["percent"] == 100
    assert stored["started_at"] and stored["finished_at"]
    took = (
        datetime.fromisoformat(stored["finished_at"]) - datetime.fromisoformat(stored["started_at"])
    ).total_seconds()
    # At most one write per publish interval (50 ms), plus the start, the flush and the end.
    assert stored["seq"] <= took / 0.05 + 5, (stored["seq"], took)


def test_progress_set_outside_a_task_does_nothing() -> None:
    started = time.monotonic()
    progress.set(1, total=2, message="not in a task")
    assert time.monotonic() - started < 1
