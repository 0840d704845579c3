"""A tracked task's life in the worker: started, retried, ended, from Celery's signals.

One set of handlers for every task, each returning at once for a task that is not
tracked: no tracking header (it was not sent by `progress.start`) and no recorder
(it never called `progress.set()`). Such a task costs a dictionary lookup here and
not one Redis command. Signal handlers rather than a Task base class, because a task
of any base class, sent in any way, becomes tracked by calling `progress.set()`.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import redis
from celery import signals
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded

from live_progress.celery_app import worker_command
from live_progress.conf import conf
from live_progress.exceptions import Refused, TaskEnded
from live_progress.store import snapshots
from live_progress.store.snapshot import FAILURE, PROGRESS, RETRY, REVOKED, STARTED, SUCCESS, Stored
from live_progress.tracking import tracking
from live_progress.worker.recorder import Recorder, close_recorder, enter_task, has_recorder

logger = logging.getLogger(__name__)


def _record(task_id: str | None, *, patient: bool = False, **fields: Any) -> bool | Refused | None:
    """`snapshots.change` that never raises into the worker: True once the change is
    stored, the refusal (the task ended already, or has no snapshot), or None when Redis
    could not be reached (logged).

    `patient`: a task's end, written in its own pool process, is retried with backoff for
    up to PROGRESS_END_WRITE_RETRY_SECONDS while Redis is away (restarting, say), so
    finished work is not left showing as running. Other writes are tried once.
    """
    if not task_id:
        return None
    deadline = time.monotonic() + (conf.PROGRESS_END_WRITE_RETRY_SECONDS if patient else 0)
    pause = 0.1
    while True:
        try:
            snapshots.change(task_id, **fields)
            return True
        except Refused as refused:  # ended already (a cancel got there first), or gone
            return refused
        except (redis.ConnectionError, redis.TimeoutError):
            if time.monotonic() + pause > deadline:
                break
            logger.warning(
                "Redis away: retrying %s of task %s in %.1f s", fields.get("state"), task_id, pause
            )
            time.sleep(pause)
            pause = min(2.0, pause * 2)
        except Exception:
            break
    logger.warning("could not record %s for task %s", fields.get("state"), task_id, exc_info=True)
    return None


@signals.task_prerun.connect
def on_task_prerun(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    header = tracking(getattr(task, "request", None))
    if header is None or not task_id:
        return  # untracked: progress.set() makes its snapshot if it is ever called
    name = getattr(task, "name", "")
    if header.get("callback"):  # a chord's callback: its group's bar is full, not reset
        started = _record(task_id, state=PROGRESS, message="Combining the results")
    else:
        # Also runs when a task is redelivered after a worker died: progress starts over.
        started = _record(
            task_id,
            parent=header.get("parent"),
            state=STARTED,
            current=0,
            message="Started",
            error=None,
            started_at=snapshots.now_iso(),
        )
    # The refusal says why: cancelled before it started, or no snapshot (no second read).
    cancelled = isinstance(started, TaskEnded) and started.state == REVOKED
    enter_task(
        task_id,
        name=name,
        parent=header.get("parent"),
        cancelled=cancelled,
        exists=started is not None and not isinstance(started, Refused),
    )


def _tracked(task: Any, task_id: str | None) -> tuple[bool, Recorder | None, str | None]:
    """(tracked?, its recorder now closed, its group) for a task that has just ended."""
    if not task_id:
        return False, None, None
    header = tracking(getattr(task, "request", None))
    if header is None and not has_recorder(task_id):
        return False, None, None
    recorder = close_recorder(task_id)
    parent = (header or {}).get("parent") or (recorder.parent if recorder else None)
    return True, recorder, parent


@signals.task_postrun.connect
def on_task_postrun(task: Any = None, task_id: str | None = None, **_: Any) -> None:
    # Always sent in the process that ran the task, whatever its end (Ignore and Reject
    # send no other signal): the recorder and its timer never outlive the task.
    if not task_id or not has_recorder(task_id):
        return
    recorder = close_recorder(task_id)
    if recorder is not None and recorder.cancelled and task is not None:
        try:  # Celery's own result says what the page says
            task.backend.mark_as_revoked(task_id, reason="cancelled", request=task.request)
        except Exception:
            logger.warning("could not mark %s revoked in the result backend", task_id)


@signals.task_success.connect
def on_task_success(sender: Any = None, result: Any = None, **_: Any) -> None:
    task_id = getattr(getattr(sender, "request", None), "id", None)
    tracked, recorder, parent = _tracked(sender, task_id)
    if not tracked:
        return
    fields: dict[str, Any] = {}
    if not (tracking(sender.request) or {}).get("callback"):  # a group keeps its aggregate
        total = recorder.total if recorder is not None and recorder.total else 100
        fields = {"current": total, "total": total}
    _record(
        task_id,
        patient=True,
        parent=parent,
        state=SUCCESS,
        percent=100,
        message="Done",
        result=_jsonable(result),
        finished_at=snapshots.now_iso(),
        **fields,
    )


@signals.task_failure.connect
def on_task_failure(
    sender: Any = None, task_id: str | None = None, exception: BaseException | None = None, **_: Any
) -> None:
    tracked, _recorder, parent = _tracked(sender, task_id)
    in_its_process = getattr(getattr(sender, "request", None), "id", None) == task_id
    if not tracked:
        if not (task_id and isinstance(exception, TimeLimitExceeded)):
            return
        # Past the hard limit the pool process is killed and the worker's main process,
        # which has no request of the task, sends this: a known snapshot ends, no other.
        stored = _read(task_id)
        if stored is None:
            return
        parent = stored.get("parent")
    _record(
        task_id,
        patient=in_its_process,  # never hold up the worker's main process
        parent=parent,
        state=FAILURE,
        message="Failed",
        error=failure_text(sender, exception)[:500],
        finished_at=snapshots.now_iso(),
    )


def _read(task_id: str) -> Stored | None:
    try:
        return snapshots.read(task_id=task_id)
    except Exception:
        return None


def failure_text(task: Any, exception: BaseException | None) -> str:
    """What went wrong, in one line: the exception, or the time limit in words."""
    if isinstance(exception, SoftTimeLimitExceeded | TimeLimitExceeded):
        limits = getattr(getattr(task, "app", None), "conf", None)
        soft = getattr(limits, "task_soft_time_limit", None)
        hard = getattr(limits, "task_time_limit", None)
        limit = soft if isinstance(exception, SoftTimeLimitExceeded) else hard
        if exception.args and isinstance(exception.args[0], int | float):
            limit = exception.args[0]  # the task's own limit, when it has one
        took = f" of {limit:g} s" if limit else ""
        return f"Stopped: the task ran past its time limit{took}."
    if exception is None:
        return "failed"
    return f"{type(exception).__name__}: {exception}"


@signals.task_retry.connect
def on_task_retry(sender: Any = None, request: Any = None, reason: Any = None, **_: Any) -> None:
    task_id = getattr(request, "id", None)
    tracked, _recorder, parent = _tracked(sender, task_id)
    if not tracked:
        return
    _record(
        task_id, parent=parent, state=RETRY, message=retry_message(sender, request, reason)[:500]
    )


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
    # Sent by the worker's main process for a task it drops unstarted (a running task
    # ends through progress.set and task_postrun instead).
    header = tracking(getattr(request, "request_dict", None))
    if header is not None:
        _record(
            request.id,
            parent=header.get("parent"),
            state=REVOKED,
            message="Cancelled",
            finished_at=snapshots.now_iso(),
        )


@signals.task_unknown.connect
def on_task_unknown(
    message: Any = None, name: str | None = None, id: str | None = None, **_: Any
) -> None:
    # No worker that got it has such a task: Celery drops the message, so say why.
    header = tracking(getattr(message, "headers", None))
    if header is None:
        return
    _record(
        id,
        parent=header.get("parent"),
        state=FAILURE,
        message="Not run",
        error=f"The worker that received it has no task named {name!r}. Either the workers "
        f"run older code than the web server (restart them: {worker_command()}), or a "
        "deploy renamed or removed this task while it was queued (start it again under its "
        "new name).",
        finished_at=snapshots.now_iso(),
    )


@signals.task_rejected.connect
def on_task_rejected(message: Any = None, exc: Any = None, **_: Any) -> None:
    # A message the worker could not decode (wrong serializer, say): it is dropped.
    headers = getattr(message, "headers", None) or {}
    header = tracking(headers)
    if header is None:
        return
    _record(
        headers.get("id"),
        parent=header.get("parent"),
        state=FAILURE,
        message="Not run",
        error=f"Rejected by the worker: {exc}",
        finished_at=snapshots.now_iso(),
    )


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value
