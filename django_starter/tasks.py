"""The project's tasks. Copy `long_running_task` to see how a task reports progress.

`long_running_task` and `parallel_demo` are listed in PROGRESS_TASKS, so the page and
POST /tasks/ can start them; each declares its arguments with a small Django form.
"""

from __future__ import annotations

import time
from typing import Any

from celery import chord, shared_task
from celery.canvas import Signature
from django import forms

from live_progress import progress, progress_form


@shared_task
def demo_task() -> str:
    """A task that finishes at once: proves a worker is consuming the queue."""
    return "pong"


class LongRunningForm(forms.Form):
    """The arguments POST /tasks/ accepts for long_running_task, with their bounds."""

    steps = forms.IntegerField(min_value=1, max_value=1000, initial=100, required=False)
    delay = forms.FloatField(
        min_value=0, max_value=2, initial=0.1, required=False, help_text="seconds per step"
    )


@progress_form(LongRunningForm, label="Long running task")
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
def count_part(part: int, steps: int = 20, delay: float = 0.1) -> int:
    """One part of `parallel_demo`: count to `steps`, reporting progress as it goes."""
    for i in range(1, steps + 1):
        progress.set(i, total=steps, message=f"Part {part}: step {i} of {steps}")
        time.sleep(delay)
    return steps


@shared_task
def sum_parts(counts: list[int]) -> dict[str, Any]:
    """The chord callback of `parallel_demo`: what the parts did, added up."""
    return {"parts": len(counts), "steps": sum(counts)}


class ParallelForm(forms.Form):
    """The arguments of parallel_demo."""

    parts = forms.IntegerField(min_value=1, max_value=8, initial=4, required=False)
    steps = forms.IntegerField(min_value=1, max_value=1000, initial=20, required=False)
    delay = forms.FloatField(min_value=0, max_value=2, initial=0.1, required=False)


@progress_form(ParallelForm, label="Parallel demo")
def parallel_demo(parts: int = 4, steps: int = 20, delay: float = 0.1) -> Signature[Any]:
    """A group of `parts` subtasks with a chord callback: one task id, one aggregated bar."""
    return chord(
        [count_part.s(part, steps=steps, delay=delay) for part in range(1, parts + 1)],
        sum_parts.s(),
    )
