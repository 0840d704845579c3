"""The live part of a task's snapshot: workers online, queue position, and why it waits.

The progress app calls `live_fields` through its PROGRESS_LIVE_FIELDS hook on every
read (HTTP), and each web process every 0.5 s for every task its sockets watch. No
task costs a Redis command of its own: the worker count and each queue's order are
read once per process per quarter second (a ZCOUNT, a ZRANGE per queue) and shared.
Only a task waiting longer than STUCK_AFTER_SECONDS while workers are online also
reads the workers' descriptions, shared by the whole process for half a second.
"""

from __future__ import annotations

import os
import threading
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.conf import settings

from progress.redis_client import get_redis
from progress.snapshot import PENDING, PROGRESS, STARTED, Stored

from . import fixes
from .queues import queue_for, queued_key
from .workers import cached_worker_details, cached_workers_online

if TYPE_CHECKING:
    from redis import Redis


def live_fields(stored: Stored) -> dict[str, Any]:
    """`workers_online`, `queue_position` and, while queued, a `message` saying why it waits."""
    redis = get_redis()
    if stored.get("state") != PENDING:
        online = cached_workers_online(redis)  # shared: many running tasks, one read
        fields: dict[str, Any] = {"workers_online": online, "queue_position": None}
        stalled = stalled_for(stored)
        if stalled is not None:
            fields["message"] = stalled_message(stored, stalled)
        return fields
    task_id, task_name = stored["task_id"], stored.get("name") or ""
    created = stored.get("created")
    queue = stored.get("queue") or queue_for(task_name)
    online = cached_workers_online(redis)
    position = _positions.rank(redis, queue, task_id)
    waited = max(0.0, time.time() - created) if created else 0.0
    stuck = online > 0 and waited >= settings.STUCK_AFTER_SECONDS
    message = explain(
        online=int(online),
        position=position,
        waited=waited,
        queue=queue,
        task_name=task_name,
        workers=cached_worker_details() if stuck else None,
    )
    return {"workers_online": int(online), "queue_position": position, "message": message}


class _Positions:
    """Each queue's order, read once per process per quarter second (one ZRANGE a queue).

    A web process asks for the position of every queued task its sockets show, every
    half second: from this one read, however many they are. A task not in the last read
    (just queued) is asked for on its own, so a fresh answer is never stale.
    """

    MAX_AGE = 0.25

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, dict[str, int]]] = {}

    def rank(self, redis: Redis, queue: str, task_id: str) -> int | None:
        with self._lock:
            at, ranks = self._read.get(queue, (-1e9, {}))
            if time.monotonic() - at > self.MAX_AGE:
                members = redis.zrange(queued_key(queue), 0, -1)
                ranks = {str(member): rank for rank, member in enumerate(members)}
                self._read[queue] = (time.monotonic(), ranks)
        if task_id in ranks:
            return ranks[task_id]
        rank: int | None = redis.zrank(queued_key(queue), task_id)  # type: ignore[assignment]
        return rank

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._read = {}


_positions = _Positions()
os.register_at_fork(after_in_child=_positions.after_fork)


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
