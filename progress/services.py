"""Starting tasks and reading snapshots on behalf of an owner (a session or a user).

Views and the WebSocket consumer call these; they never touch Redis themselves.
"""

from __future__ import annotations

import contextlib
import secrets
import uuid
from typing import Any

from celery import current_app
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.contrib.sessions.backends.base import SessionBase

from diagnostics import queues
from diagnostics.live import live_fields
from django_starter.tasks import long_running_task

from . import broadcast, store

SESSION_OWNER_KEY = "progress_owner"


def owner_for(*, user: AbstractBaseUser | AnonymousUser | None, session: SessionBase) -> str:
    """Who owns tasks started now: the logged-in user, else this browser session.

    A session gets a random owner token on its first task, kept in the session data
    so that it survives a login's session-key rotation.
    """
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    token = session.get(SESSION_OWNER_KEY)
    if not token:
        token = secrets.token_urlsafe(16)
        session[SESSION_OWNER_KEY] = token
    return f"session:{token}"


def existing_owner(
    *, user: AbstractBaseUser | AnonymousUser | None, session: SessionBase
) -> str | None:
    """The owner identity of this request, without creating one (None for a new session)."""
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    token = session.get(SESSION_OWNER_KEY)
    return f"session:{token}" if token else None


def may_read(snapshot: store.Snapshot, *, owner: str | None, is_staff: bool) -> bool:
    """Only the task's owner, and staff, may see a task."""
    return is_staff or (owner is not None and snapshot.get("owner") == owner)


def task_live_fields(*, task_id: str, state: str, created: float | None) -> dict[str, Any]:
    """`workers_online`, `queue_position` and, while queued, a `message` saying why it waits."""
    return live_fields(
        task_id=task_id, state=state, created=created, task_name=long_running_task.name
    )


def with_live_fields(snapshot: store.Snapshot) -> dict[str, Any]:
    """The public snapshot plus its live fields (one Redis round trip)."""
    data = store.public(snapshot)
    data.update(
        task_live_fields(
            task_id=data["task_id"], state=data["state"], created=snapshot.get("created")
        )
    )
    return data


def task_start(*, owner: str, steps: int = 100) -> dict[str, Any]:
    """Record a new `long_running_task` for `owner` and send it to the broker.

    Raises store.TooManyTasks when the owner is at PROGRESS_MAX_ACTIVE_TASKS unfinished tasks.
    """
    task_id = str(uuid.uuid4())
    snapshot = store.create(task_id=task_id, owner=owner, limit=settings.PROGRESS_MAX_ACTIVE_TASKS)
    # Counted in its queue before it is sent, so the worker's start always finds it.
    queue = queues.queue_for(long_running_task.name)
    queues.enqueue(task_id=task_id, queue=queue)
    try:
        long_running_task.apply_async(kwargs={"steps": steps}, task_id=task_id)
    except Exception:
        with contextlib.suppress(Exception):
            queues.dequeue(task_id=task_id, queues={queue})
        # Not queued: never leave a PENDING bar that nothing will ever move.
        with contextlib.suppress(Exception):
            store.update(
                task_id=task_id,
                state=store.FAILURE,
                message="Not queued",
                error="The broker did not accept the task.",
            )
        raise
    return with_live_fields(snapshot)


def task_cancel(*, task_id: str, owner: str | None, is_staff: bool) -> dict[str, Any] | None:
    """Cancel a queued or running task; None when unknown, malformed or not this reader's.

    The store says REVOKED first, so the page and WebSocket see it at once and a worker
    that starts the task later finds it cancelled. A live worker drops it from its queue;
    a running task stops at its next `progress.set()`. (Never `terminate=True`: it kills
    the pool process, which may be running another task by then.) A finished task is
    left as it is.
    """
    snapshot = _readable(task_id=task_id, owner=owner, is_staff=is_staff)
    if snapshot is None:
        return None
    if snapshot["state"] not in store.TERMINAL_STATES:
        revoked = store.update(task_id=task_id, state=store.REVOKED, message="Cancelled")
        if revoked is not None:
            broadcast.send_snapshot(store.public(revoked))
        current_app.control.revoke(task_id)
        queues.dequeue(task_id=task_id, queues={queues.queue_for(long_running_task.name)})
        snapshot = revoked or store.read(task_id=task_id) or snapshot
    return with_live_fields(snapshot)


def task_snapshot(*, task_id: str, owner: str | None, is_staff: bool) -> dict[str, Any] | None:
    """The task's snapshot for this reader, or None when unknown, malformed or not theirs."""
    snapshot = _readable(task_id=task_id, owner=owner, is_staff=is_staff)
    return with_live_fields(snapshot) if snapshot is not None else None


def _readable(*, task_id: str, owner: str | None, is_staff: bool) -> store.Snapshot | None:
    """The stored snapshot when the id is well formed, known, and this reader's to see."""
    if not store.is_valid_task_id(task_id):
        return None
    snapshot = store.read(task_id=task_id)
    if snapshot is None or not may_read(snapshot, owner=owner, is_staff=is_staff):
        return None
    return snapshot
