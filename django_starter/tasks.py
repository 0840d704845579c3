"""The seed's tasks. Copy `long_running_task` to see how a task reports progress."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from progress.recorder import progress


@shared_task
def demo_task() -> str:
    """A task that finishes at once: proves a worker is consuming the queue."""
    return "pong"


@shared_task
def long_running_task(steps: int = 100, delay: float = 0.1) -> dict[str, Any]:
    """Count to `steps`, one `progress.set` and one short sleep per step.

    Safe to run again from the start: a worker killed mid-task gets it redelivered.
    """
    started = time.monotonic()
    for i in range(1, steps + 1):
        progress.set(i, total=steps, message=f"Step {i} of {steps}")
        time.sleep(delay)
    return {"steps": steps, "seconds": round(time.monotonic() - started, 2)}


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
