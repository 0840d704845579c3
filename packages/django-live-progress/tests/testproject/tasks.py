"""The test project's tasks: each reports its progress with `progress.set`."""

from __future__ import annotations

import time

from celery import shared_task
from django import forms

from live_progress import progress
from live_progress.registry import progress_form


class CountForm(forms.Form):
    """What POST <prefix>tasks/ accepts for `count`."""

    steps = forms.IntegerField(min_value=1, max_value=1000, required=False)
    delay = forms.FloatField(min_value=0, max_value=1, required=False)


@progress_form(CountForm, label="Count")
@shared_task
def count(steps: int = 10, delay: float = 0.02) -> int:
    """Counts to `steps`, one progress.set per step."""
    for i in range(1, steps + 1):
        time.sleep(delay)
        progress.set(i, total=steps, message=f"Step {i} of {steps}")
    return steps


@shared_task
def wait(seconds: float = 30.0) -> str:
    """Reports progress every 50 ms for `seconds` (long enough to be cancelled)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        progress.set(time.monotonic() - deadline + seconds, total=seconds)
        time.sleep(0.05)
    return "waited"


@shared_task
def tight_loop(calls: int) -> int:
    """Calls progress.set `calls` times as fast as it can (writes must stay few)."""
    for i in range(1, calls + 1):
        progress.set(i, total=calls)
    return calls


@shared_task
def silent() -> str:
    """Never reports progress: it must get no snapshot at all."""
    return "quiet"
