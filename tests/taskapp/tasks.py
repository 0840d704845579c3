"""A user's own tasks, as someone building on the starter writes them (not in PROGRESS_TASKS)."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from live_progress import progress


@shared_task
def import_rows(rows: int = 5, delay: float = 0.02) -> int:
    """Report progress per row, sent with plain `.delay()`: never cancelled for it."""
    for i in range(1, rows + 1):
        progress.set(i, total=rows, message=f"Row {i} of {rows}")
        time.sleep(delay)
    return rows


@shared_task
def add(x: int, y: int) -> int:
    """A task that never reports progress: it must cost no Redis command of ours."""
    return x + y


@shared_task
def failing_task(message: str = "Something went wrong") -> None:
    """Fail at once: shows how a task's error reaches its owner (state FAILURE)."""
    raise ValueError(message)


@shared_task(bind=True, max_retries=2, default_retry_delay=1)
def flaky_task(self: Any, fail_times: int = 1) -> str:
    """Fail `fail_times` times, retrying after one second each (state RETRY), then succeed."""
    if self.request.retries < fail_times:
        raise self.retry(exc=ConnectionError("the service did not answer"))
    return f"succeeded on attempt {self.request.retries + 1}"


@shared_task
def failing_part(part: int, fail: bool = False, steps: int = 3) -> int:
    """A group member that reports progress, then fails when told to."""
    for i in range(1, steps + 1):
        progress.set(i, total=steps)
        time.sleep(0.02)
    if fail:
        raise RuntimeError(f"part {part} broke")
    return part


@shared_task
def stubborn_task(seconds: int = 30) -> int:
    """Ignore the soft time limit and keep going: only the hard limit stops it."""
    for i in range(1, seconds * 10 + 1):
        try:
            progress.set(i, total=seconds * 10, message="Ignoring every warning")
            time.sleep(0.1)
        except SoftTimeLimitExceeded:
            pass
    return seconds


@shared_task
def silent_task(seconds: float = 15) -> float:
    """Report once, then work `seconds` without a word: a task that looks stuck."""
    progress.set(1, total=2, message="Working quietly")
    time.sleep(seconds)
    return seconds
