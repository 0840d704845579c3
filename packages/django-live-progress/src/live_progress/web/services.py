"""Starting, reading, listing and cancelling tasks on behalf of an owner.

`start` is the public Python API (`progress.start(signature, owner=request)`): the same
path POST /tasks/ takes, owner and per-owner limit included. Views and the WebSocket
consumer call these functions; they never touch Redis or the history themselves.
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from celery import chord, current_app, group
from celery.canvas import Signature
from django.core.paginator import Paginator
from django.http import HttpRequest

from live_progress.celery_app import configured_app
from live_progress.conf import conf
from live_progress.exceptions import NoCeleryApp, Refused
from live_progress.store import history, snapshots
from live_progress.store.snapshot import (
    FAILURE,
    PENDING,
    REVOKED,
    TERMINAL_STATES,
    Child,
    Snapshot,
    Stored,
    is_valid_task_id,
)
from live_progress.tracking import Tracking, headers
from live_progress.web import owners
from live_progress.web.live import with_live_fields


def start(
    signature: Signature,
    *,
    owner: HttpRequest | str,
    name: str | None = None,
    kwargs: dict[str, Any] | None = None,
    limited: bool = True,
) -> Snapshot:
    """Send a task, group or chord with a snapshot that `owner` (a request) may follow.

    Returns the queued snapshot (one task id, also for a group or chord: its bar
    aggregates the subtasks). `name` and `kwargs` are what the history shows of it.
    Raises TooManyTasks when the owner already has PROGRESS_MAX_ACTIVE_TASKS
    unfinished tasks, or (a subclass) the request's client address has
    PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS, and QueueFull when everyone's together
    reach PROGRESS_MAX_QUEUED; nothing is sent then. `limited=False` lifts all three.
    Raises NoCeleryApp, sending nothing, when the project configured no Celery app.
    """
    if configured_app() is None:
        raise NoCeleryApp()
    owner_id = owners.resolve(owner)
    limits = _limits(owner, limited=limited)
    if isinstance(signature, group | chord):
        return _start_group(signature, owner=owner_id, name=name, kwargs=kwargs, limits=limits)
    task_id = str(uuid.uuid4())
    name = name or str(signature.task)
    summary = history.summarize(kwargs if kwargs is not None else signature.kwargs)
    stored = snapshots.create(
        snapshots.new_snapshot(
            task_id=task_id,
            name=name,
            owner=owner_id,
            queue=_queue(signature),
            kwargs_summary=summary,
        ),
        **limits,
    )
    _send(
        task_id,
        lambda: signature.apply_async(
            task_id=task_id, headers=headers(signature.options, Tracking())
        ),
    )
    return with_live_fields(stored)


def _limits(owner: HttpRequest | str, *, limited: bool) -> dict[str, Any]:
    """The limits `snapshots.create` checks for this start, and the client's address."""
    if not limited:
        return {}
    address = client_address(owner) if isinstance(owner, HttpRequest) else None
    return {
        "limit": conf.PROGRESS_MAX_ACTIVE_TASKS,
        "address": address,
        "address_limit": conf.PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS,
        "queued_limit": conf.PROGRESS_MAX_QUEUED,
    }


def client_address(request: HttpRequest) -> str | None:
    """The client's IP address: the socket's peer, or behind a trusted proxy
    (PROGRESS_TRUSTED_PROXY) the last X-Forwarded-For entry, the one that proxy added."""
    if conf.PROGRESS_TRUSTED_PROXY:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")[-1].strip()
        if forwarded:
            return str(forwarded)
    return request.META.get("REMOTE_ADDR") or None


def _start_group(
    canvas: group | chord,
    *,
    owner: str,
    name: str | None,
    kwargs: dict[str, Any] | None,
    limits: dict[str, Any],
) -> Snapshot:
    """One snapshot for the whole group (its id is the chord callback's), one per subtask."""
    task_id = str(uuid.uuid4())
    members = canvas.tasks
    body = canvas.body if isinstance(canvas, chord) else None
    subtasks = [member.clone() for member in members]
    children: list[Child] = []
    for subtask in subtasks:
        child_id = str(uuid.uuid4())
        subtask.set(task_id=child_id, headers=headers(subtask.options, Tracking(parent=task_id)))
        children.append(
            {
                "task_id": child_id,
                "name": str(subtask.task),
                "state": PENDING,
                "current": 0,
                "total": 100,
                "percent": 0,
            }
        )
    label = name or (str(body.task) if body is not None else f"group of {len(children)}")
    stored = snapshots.create(
        snapshots.new_snapshot(
            task_id=task_id,
            name=label,
            owner=owner,
            children=children,
            callback=body is not None,
            kwargs_summary=history.summarize(kwargs),
        ),
        **limits,
    )
    parts = [
        snapshots.new_snapshot(
            task_id=child["task_id"],
            name=child["name"],
            owner=owner,
            parent=task_id,
            queue=_queue(subtask),
        )
        for child, subtask in zip(children, subtasks, strict=True)
    ]
    sent: group | chord = group(subtasks)
    if body is not None:
        callback = body.clone()
        callback.set(task_id=task_id, headers=headers(callback.options, Tracking(callback=True)))
        sent = chord(subtasks, callback)

    def send() -> None:
        snapshots.create_parts(parts)  # tracked and queued, but only their group counts
        sent.apply_async()

    _send(task_id, send, parts=[child["task_id"] for child in children])
    return with_live_fields(stored)


def _queue(signature: Signature) -> str:
    """The queue Celery routes the task to (its own option, task_routes, or the default)."""
    queue = signature.options.get("queue")
    if queue:
        return str(queue)
    route = current_app.amqp.router.route(dict(signature.options), str(signature.task))
    return str(route["queue"].name)


def _send(task_id: str, send: Any, *, parts: list[str] | None = None) -> None:
    """Hand the task to the broker; if it refuses, the snapshot says so (never PENDING), and
    a group's `parts` end too: off their queue's positions."""
    try:
        send()
    except Exception:
        for part in [task_id, *(parts or [])]:
            with contextlib.suppress(Exception):
                snapshots.change(
                    part,
                    parent=None if part == task_id else task_id,
                    state=FAILURE,
                    message="Not queued",
                    error="The broker did not accept the task.",
                    finished_at=snapshots.now_iso(),
                )
        raise


def snapshot(*, task_id: str, owner: str | None, is_staff: bool) -> Snapshot | None:
    """The task's snapshot for this reader (from Redis, else the history), or None when
    the id is unknown, malformed or not theirs."""
    if not is_valid_task_id(task_id):
        return None
    stored = snapshots.read(task_id=task_id)
    if stored is not None:
        readable = owners.may_read(stored, owner=owner, is_staff=is_staff)
        if readable or owned_by_history(stored, owner=owner):
            return with_live_fields(stored)
        return None
    run = history.find(task_id)
    if run is None or not owners.may_read({"owner": run.owner}, owner=owner, is_staff=is_staff):
        return None
    return history.snapshot_of(run)


def owned_by_history(stored: Stored, *, owner: str | None) -> bool:
    """A snapshot made again with no owner (Redis lost it mid-task) is still its owner's:
    the history row, written when the task started, says whose it is."""
    if stored.get("owner") or not owner:
        return False
    run = history.find(stored["task_id"])
    return run is not None and run.owner == owner


def task_list(*, owner: str | None, is_staff: bool, everyone: bool, page: int) -> dict[str, Any]:
    """A page of the reader's tasks, newest first, live from Redis where it still has them."""
    if everyone and is_staff:
        runs = history.runs(owner=None)
    elif owner:
        runs = history.runs(owner=owner)
    else:
        runs = history.runs(owner="").none()
    paginator = Paginator(runs, conf.PROGRESS_PAGE_SIZE)
    current = paginator.get_page(page)
    rows = list(current.object_list)
    live = snapshots.read_many([run.task_id for run in rows])
    tasks = [
        with_live_fields(live[run.task_id]) if run.task_id in live else history.snapshot_of(run)
        for run in rows
    ]
    unwritten: list[Stored] = []
    if current.number == 1 and (owner or (everyone and is_staff)):
        # Tasks whose row is not written yet (the database refused it at start) are the
        # owner's from the moment they were started: Redis has them.
        full = current.has_next() or len(rows) == conf.PROGRESS_PAGE_SIZE
        unwritten = history.unwritten(
            owner=None if everyone and is_staff else owner,
            since=rows[-1].created_at.timestamp() if rows and full else None,
            listed={run.task_id for run in rows},
        )
        tasks = [with_live_fields(stored) for stored in unwritten] + tasks
    return {
        "tasks": tasks,
        "page": current.number,
        "pages": paginator.num_pages,
        "count": paginator.count + len(unwritten),
        "next_page": current.next_page_number() if current.has_next() else None,
    }


def cancel(*, task_id: str, owner: str | None, is_staff: bool) -> Snapshot | None:
    """Cancel a queued or running task (or group); None when unknown or not this reader's.

    The store says REVOKED first, so the page and WebSocket see it at once and a worker
    that starts the task later finds it cancelled. A live worker drops it from its queue;
    a running task stops at its next `progress.set()`. (Never `terminate=True`: it kills
    the pool process, which may be running another task by then.) A finished task is
    left as it is.
    """
    if not is_valid_task_id(task_id):
        return None
    stored = snapshots.read(task_id=task_id)
    if stored is None or not owners.may_read(stored, owner=owner, is_staff=is_staff):
        return snapshot(task_id=task_id, owner=owner, is_staff=is_staff)
    if stored["state"] not in TERMINAL_STATES:
        # The task itself (a subtask tells its group), then a group's subtasks.
        ids = [task_id] + [child["task_id"] for child in snapshots.children_of(stored)]
        for each in ids:
            with contextlib.suppress(Refused):  # a part that ended already keeps its end
                snapshots.record(
                    each,
                    parent=stored.get("parent") if each == task_id else task_id,
                    state=REVOKED,
                    message="Cancelled",
                    finished_at=snapshots.now_iso(),
                )
        current_app.control.revoke(ids)
        stored = snapshots.read(task_id=task_id) or stored
    return with_live_fields(stored)
