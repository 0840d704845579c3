"""Start, retry and terminal states, recorded from Celery's task signals in the worker."""

from __future__ import annotations

import json
import logging
from typing import Any

from celery import signals

from . import broadcast, store
from .recorder import close_recorder, enter_task

logger = logging.getLogger(__name__)


def record(task_id: str | None, **fields: Any) -> store.Snapshot | None:
    """Store a state change and publish it; never raises into the worker.

    Returns the new snapshot, or None when the task has none (it was not started through
    `task_start`), is already terminal, or Redis did not answer.
    """
    if not task_id:
        return None
    try:
        snapshot = store.update(task_id=task_id, **fields)
    except Exception:
        logger.warning(
            "could not record %s for task %s", fields.get("state"), task_id, exc_info=True
        )
        return None
    if snapshot is not None:
        broadcast.send_snapshot(store.public(snapshot))
    return snapshot


@signals.task_prerun.connect
def on_task_prerun(task_id: str | None = None, **_: Any) -> None:
    if not task_id:
        return
    # Also runs when a task is redelivered after a worker died: progress starts over.
    started = record(task_id, state=store.STARTED, current=0, message="Started", error=None)
    enter_task(task_id, cancelled=started is None and _was_cancelled(task_id))


@signals.task_postrun.connect
def on_task_postrun(
    sender: Any = None, task_id: str | None = None, state: str | None = None, **_: Any
) -> None:
    # Always sent in the process that ran the task, whatever its end (Ignore and Reject
    # send no other signal): the recorder and its timer never outlive the task.
    if not task_id:
        return
    recorder = close_recorder(task_id)
    if recorder is not None and recorder.cancelled and sender is not None:
        try:  # Celery's own result says what the page says
            sender.backend.mark_as_revoked(task_id, reason="cancelled", request=sender.request)
        except Exception:
            logger.warning("could not mark %s revoked in the result backend", task_id)


def _was_cancelled(task_id: str) -> bool:
    try:
        return (store.read(task_id=task_id) or {}).get("state") == store.REVOKED
    except Exception:
        return False


@signals.task_success.connect
def on_task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    task_id = sender.request.id if sender is not None else None
    if not task_id:
        return
    close_recorder(task_id)
    snapshot = store.read(task_id=task_id) or {}
    total = snapshot.get("total") or 100
    record(
        task_id,
        state=store.SUCCESS,
        current=total,
        total=total,
        percent=100,
        message="Done",
        result=_jsonable(result),
    )


@signals.task_failure.connect
def on_task_failure(
    task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    if task_id:
        close_recorder(task_id)
    error = f"{type(exception).__name__}: {exception}" if exception else "failed"
    record(task_id, state=store.FAILURE, message="Failed", error=error[:500])


@signals.task_retry.connect
def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    task_id = getattr(request, "id", None)
    if task_id:
        close_recorder(task_id)
    record(task_id, state=store.RETRY, message=retry_message(sender, request, reason)[:500])


def retry_message(task: Any, request: Any, reason: Any) -> str:
    """'Attempt 1 failed (ConnectionError: ...); attempt 2 of 3 in 1s', from Celery's Retry."""
    attempt = int(getattr(request, "retries", 0) or 0) + 1
    max_retries = getattr(task, "max_retries", None)
    exc = getattr(reason, "exc", None)
    cause = f"{type(exc).__name__}: {exc}" if exc is not None else str(reason)
    when = reason.humanize() if hasattr(reason, "humanize") else "soon"
    of = f" of {max_retries + 1}" if isinstance(max_retries, int) else ""
    return f"Attempt {attempt} failed ({cause}); attempt {attempt + 1}{of} {when}"


@signals.task_revoked.connect
def on_task_revoked(request: Any = None, **_: Any) -> None:
    # Sent by the worker's main process for a task it drops unstarted: no recorder exists
    # there (a running task ends through progress.set and task_postrun instead).
    record(getattr(request, "id", None), state=store.REVOKED, message="Cancelled")


@signals.task_unknown.connect
def on_task_unknown(name: str | None = None, id: str | None = None, **_: Any) -> None:
    # This worker has no such task (older code?): Celery drops the message, so say why.
    record(
        id,
        state=store.FAILURE,
        message="Not run",
        error=f"The worker that received it does not know the task {name!r}. Restart the "
        "workers with the current code: celery -A django_starter worker -l info",
    )


@signals.task_rejected.connect
def on_task_rejected(message: Any = None, exc: Any = None, **_: Any) -> None:
    # A message the worker could not decode (wrong serializer, say): it is dropped.
    task_id = (getattr(message, "headers", None) or {}).get("id")
    record(task_id, state=store.FAILURE, message="Not run", error=f"Rejected by the worker: {exc}")


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
