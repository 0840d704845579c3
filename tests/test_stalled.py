"""A running task that stops reporting progress says so, in its snapshot and in `doctor`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.test import override_settings

from diagnostics.checks import check_tasks
from live_progress.store import snapshots
from live_progress.web import services
from tests.support.processes import Proc, run_doctor, stack_env, wait_for
from tests.taskapp.tasks import silent_task

pytestmark = [pytest.mark.slow]

OWNER = "session:stalled"


@pytest.mark.django_db(transaction=True)
def test_a_running_task_without_progress_says_the_worker_may_be_stuck(
    redis_url: str, worker: Proc, stack_database: Path
) -> None:
    started = services.start(silent_task.s(seconds=15), owner=OWNER, limited=False)
    task_id = started["task_id"]

    def running() -> bool:
        stored = snapshots.read(task_id=task_id)
        return stored is not None and stored["state"] == "PROGRESS"

    wait_for(running, timeout=30, what="the task running")
    fresh = services.snapshot(task_id=task_id, owner=OWNER, is_staff=False)
    assert fresh is not None and fresh["message"] == "Working quietly"

    def message() -> str:
        snapshot = services.snapshot(task_id=task_id, owner=OWNER, is_staff=False)
        assert snapshot is not None
        return snapshot["message"]

    with override_settings(STALLED_AFTER_SECONDS=1):
        wait_for(lambda: message().startswith("No progress"), timeout=10, what="the stalled word")
        stalled = services.snapshot(task_id=task_id, owner=OWNER, is_staff=False)
        assert stalled is not None
        assert re.fullmatch(
            r"No progress for \d+ s — the worker may be stuck\. Last: Working quietly",
            stalled["message"],
        ), stalled["message"]
        check = check_tasks()
        assert check.status == "WARN"
        assert task_id in check.summary and "silent_task" in check.summary

    # The real command, as a user runs it, lists the task too.
    env = stack_env(redis_url=redis_url, database_path=stack_database, STALLED_AFTER_SECONDS="1")
    doctor = run_doctor(env)
    line = next(line for line in doctor.stdout.splitlines() if line.startswith("WARN  Tasks"))
    assert "with no progress for over 1 s" in line and task_id in line, doctor.stdout
    assert "fix: see the worker's log" in doctor.stdout
