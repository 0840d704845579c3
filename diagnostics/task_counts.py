"""The workers count task starts and ends in Redis, for GET /metrics (diagnostics/metrics.py).

One HINCRBY per start and per end, from Celery's signals, in whichever worker runs the
task: the counts are the whole deployment's, and they outlive every process.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import signals

from live_progress.store.client import get_redis
from live_progress.store.snapshot import REVOKED, TERMINAL_STATES

logger = logging.getLogger(__name__)

STARTED_KEY = "starter:metrics:tasks:started"  # hash: task name -> count
ENDED_KEY = "starter:metrics:tasks:ended"  # hash: "<state> <task name>" -> count


def _count(key: str, field: str) -> None:
    try:
        get_redis().hincrby(key, field, 1)
    except Exception:  # Redis away: a count is lost, the task is not
        logger.debug("could not count %s in %s", field, key, exc_info=True)


@signals.task_prerun.connect
def _task_started(sender: Any = None, **_: Any) -> None:
    _count(STARTED_KEY, getattr(sender, "name", None) or "unknown")


@signals.task_postrun.connect
def _task_ended(sender: Any = None, state: str | None = None, **_: Any) -> None:
    if state in TERMINAL_STATES:
        _count(ENDED_KEY, f"{state} {getattr(sender, 'name', None) or 'unknown'}")


@signals.task_revoked.connect
def _task_revoked(sender: Any = None, request: Any = None, **_: Any) -> None:
    name = getattr(sender, "name", None) or getattr(request, "name", None) or "unknown"
    _count(ENDED_KEY, f"{REVOKED} {name}")
