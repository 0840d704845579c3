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
