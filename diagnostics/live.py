"""Why a task waits or stalls, in words: the `message` diagnostics adds to live snapshots.

The progress app counts workers and queue positions itself; it calls `live_fields`
(its PROGRESS_LIVE_FIELDS hook) on every read and, in each web process, every 0.5 s for
every task its sockets watch. The count and positions it shares across the process,
so this costs no Redis command of its own. Only a task waiting longer than
STUCK_AFTER_SECONDS while workers are online also reads the workers' descriptions,
shared by the whole process for half a second.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from django.conf import settings

from live_progress.store.snapshot import PENDING, PROGRESS, STARTED, Stored
from live_progress.store.workers import cached_worker_details
from live_progress.web.live import queue_for, queue_position, workers_online

from . import fixes


def live_fields(stored: Stored) -> dict[str, Any]:
    """While queued, a `message` saying why it waits; while running, whether it stalled."""
    if stored.get("state") != PENDING:
        stalled = stalled_for(stored)
        return {} if stalled is None else {"message": stalled_message(stored, stalled)}
    task_name = stored.get("name") or ""
    created = stored.get("created")
    queue = stored.get("queue") or queue_for(task_name)
    online = workers_online()
    position = queue_position(stored)
    waited = max(0.0, time.time() - created) if created else 0.0
    stuck = online > 0 and waited >= settings.STUCK_AFTER_SECONDS
    message = explain(
        online=online,
        position=position,
        waited=waited,
        queue=queue,
        task_name=task_name,
        workers=cached_worker_details() if stuck else None,
    )
    return {"message": message}


def explain(
    *,
    online: int,
    position: int | None,
    waited: float,
    queue: str,
    task_name: str,
    workers: list[dict[str, Any]] | None,
) -> str:
    """Why a queued task has not started, in the user's words, with the fixing command.

    `workers` is given only once the task has waited past the threshold.
    """
    if online == 0:
        return f"Queued: no worker is running. Start one with: {fixes.WORKER}"
    if workers:
        since = f"Queued for {int(waited)} s"
        consumers = [w for w in workers if queue in w.get("queues", [])]
        if not consumers:
            theirs = sorted({q for w in workers for q in w.get("queues", [])})
            return (
                f"{since}: {_count(len(workers), 'worker')} online, but none consumes the "
                f'queue "{queue}" (they consume: {", ".join(theirs) or "nothing"}). '
                f"Start one that does: {fixes.worker_for_queue(queue)}"
            )
        if not any(task_name in w.get("registered", []) for w in consumers):
            return (
                f'{since}: the workers on queue "{queue}" do not know the task '
                f'"{task_name}" (they run older code?). Restart them: {fixes.WORKER}'
            )
        if all(_busy(w) for w in consumers):
            ahead = f"; {_count(position, 'task')} ahead of yours" if position else ""
            return (
                f'{since}: all {_count(len(consumers), "worker")} on queue "{queue}" '
                f"are busy{ahead}."
            )
    if position:
        return f"Queued: {_count(position, 'task')} ahead of yours."
    return "Queued: next in line." if position == 0 else "Queued."


def stalled_for(stored: Stored, now: datetime | None = None) -> float | None:
    """Seconds since a running task last changed, once past STALLED_AFTER_SECONDS."""
    if stored.get("state") not in (STARTED, PROGRESS) or not stored.get("updated_at"):
        return None
    since = datetime.fromisoformat(str(stored["updated_at"]))
    seconds = ((now or datetime.now(UTC)) - since).total_seconds()
    return seconds if seconds >= settings.STALLED_AFTER_SECONDS else None


def stalled_message(stored: Stored, seconds: float) -> str:
    """A stalled task's message: how long nothing moved, and what it said last."""
    last = f" Last: {stored['message']}" if stored.get("message") else ""
    return f"No progress for {in_words(seconds)} — the worker may be stuck.{last}"


def in_words(seconds: float) -> str:
    """'45 s', '2 min', '3 h': a duration as a person says it."""
    if seconds < 120:
        return f"{int(seconds)} s"
    if seconds < 2 * 3600:
        return f"{int(seconds // 60)} min"
    return f"{int(seconds // 3600)} h"


def _busy(worker: dict[str, Any]) -> bool:
    concurrency = worker.get("concurrency") or 1
    return int(worker.get("active", 0)) >= int(concurrency)


def _count(n: int | None, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"
