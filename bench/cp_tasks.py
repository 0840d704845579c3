"""celery-progress 0.5's recorders in real tasks; only the celery-progress bench worker loads
this module (`--include bench.cp_tasks`), so its task_postrun handler reaches no other worker.
"""

from __future__ import annotations

import time
from typing import Any

import redis
from celery import shared_task
from celery_progress.backend import ProgressRecorder  # type: ignore[import-untyped]
from celery_progress.websockets import (  # type: ignore[import-untyped]
    tasks as _final_push,  # noqa: F401  (its task_postrun)
)
from celery_progress.websockets.backend import (  # type: ignore[import-untyped]
    WebSocketProgressRecorder,
)
from django.conf import settings


def _recorder(task: Any, websocket: bool) -> ProgressRecorder:
    return WebSocketProgressRecorder(task) if websocket else ProgressRecorder(task)


@shared_task(bind=True, name="bench.cp_steps")
def cp_steps(
    self: Any, steps: int = 100, delay: float = 0.1, websocket: bool = False
) -> dict[str, Any]:
    """The seed's task shape with celery-progress; returns when each value was set."""
    recorder = _recorder(self, websocket)
    set_at = []
    for i in range(1, steps + 1):
        set_at.append(time.time())
        recorder.set_progress(i, steps, description=f"Step {i} of {steps}")
        time.sleep(delay)
    return {"steps": steps, "set_at": set_at}


def commands_processed(client: redis.Redis) -> int:
    return int(client.info("stats")["total_commands_processed"])


@shared_task(bind=True, name="bench.cp_cost")
def cp_cost(self: Any, calls: int = 200, websocket: bool = False) -> dict[str, Any]:
    """Time `calls` set_progress calls and count the Redis commands they sent.

    The commands are INFO's total_commands_processed over the loop, less what Redis
    processed over an equally long quiet window just after (heartbeats, polls).
    """
    recorder = _recorder(self, websocket)
    client = redis.Redis.from_url(settings.REDIS_URL)
    before = commands_processed(client)
    started = time.perf_counter()
    for i in range(1, calls + 1):
        recorder.set_progress(i, calls)
    seconds = time.perf_counter() - started
    during = commands_processed(client) - before - 1
    before = commands_processed(client)
    time.sleep(seconds)
    background = commands_processed(client) - before - 1
    return {"calls": calls, "seconds": seconds, "commands": max(0, during - background)}
