"""Worker presence and queue bookkeeping against the session's real Redis and worker."""

from __future__ import annotations

import uuid

import pytest

from diagnostics import queues
from diagnostics.live import explain
from diagnostics.workers import worker_details, workers_online
from django_starter.celery import app as celery_app
from django_starter.tasks import long_running_task
from progress import store
from tests.support.expected import WORKER_COMMAND
from tests.support.processes import Proc, wait_for

LONG = "django_starter.tasks.long_running_task"


def a_worker(**info: object) -> dict[str, object]:
    return {
        "name": "w1@host",
        "queues": ["celery"],
        "registered": [LONG],
        "active": 0,
        "concurrency": 2,
        **info,
    }


def words(**kwargs: object) -> str:
    given: dict[str, object] = {
        "online": 1,
        "position": 0,
        "waited": 12.0,
        "queue": "celery",
        "task_name": LONG,
        "workers": None,
        **kwargs,
    }
    return explain(**given)  # type: ignore[arg-type]


def test_no_worker_is_said_at_once_with_the_command() -> None:
    assert (
        words(online=0, waited=0.0)
        == f"Queued: no worker is running. Start one with: {WORKER_COMMAND}"
    )


def test_tasks_ahead_are_counted_in_words() -> None:
    assert words(position=3) == "Queued: 3 tasks ahead of yours."
    assert words(position=1) == "Queued: 1 task ahead of yours."
    assert words(position=0) == "Queued: next in line."
    assert words(position=None) == "Queued."  # sent by other code: not in our queue list


def test_a_stuck_task_on_a_queue_nobody_consumes_names_the_queue_and_the_fix() -> None:
    message = words(workers=[a_worker(queues=["other", "emails"])])
    assert message == (
        'Queued for 12 s: 1 worker online, but none consumes the queue "celery" '
        "(they consume: emails, other). Start one that does: "
        f"{WORKER_COMMAND} -Q celery"
    )


def test_a_stuck_task_unknown_to_the_workers_says_restart_them() -> None:
    message = words(workers=[a_worker(registered=["django_starter.tasks.demo_task"])])
    assert message == (
        f'Queued for 12 s: the workers on queue "celery" do not know the task '
        f'"{LONG}" (they run older code?). Restart them: {WORKER_COMMAND}'
    )


def test_a_stuck_task_behind_busy_workers_says_they_are_busy() -> None:
    message = words(position=2, workers=[a_worker(active=2), a_worker(name="w2@h", active=2)])
    assert (
        message == 'Queued for 12 s: all 2 workers on queue "celery" are busy; '
        "2 tasks ahead of yours."
    )


def test_positions_follow_the_order_tasks_were_queued_in() -> None:
    queue = f"test-{uuid.uuid4().hex[:8]}"
    ids = [str(uuid.uuid4()) for _ in range(4)]
    for task_id in ids:
        queues.enqueue(task_id=task_id, queue=queue)
    assert [queues.position(task_id=t, queue=queue) for t in ids] == [0, 1, 2, 3]
    queues.dequeue(task_id=ids[0], queues={queue})
    assert [queues.position(task_id=t, queue=queue) for t in ids] == [None, 0, 1, 2]


@pytest.mark.slow
def test_the_worker_describes_itself_in_its_heartbeat(worker: Proc) -> None:
    assert workers_online() >= 1
    mine = next(w for w in worker_details() if w["name"] == worker.node)  # type: ignore[attr-defined]
    assert mine["queues"] == ["celery"]
    assert LONG in mine["registered"]
    assert mine["concurrency"] == 2
    # Earlier tests may have left it a task to finish: once idle, it says so.
    celery_app.control.purge()

    def idle() -> bool:
        return next(w for w in worker_details() if w["name"] == worker.node)["active"] == 0  # type: ignore[attr-defined]

    wait_for(idle, timeout=60, what="the session worker to be idle")


@pytest.mark.slow
def test_a_started_task_leaves_its_queue(worker: Proc) -> None:
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner="test:queue")
    queue = queues.queue_for(LONG)
    assert queue == "celery"
    queues.enqueue(task_id=task_id, queue=queue)
    assert queues.position(task_id=task_id, queue=queue) is not None
    long_running_task.apply_async(kwargs={"steps": 2, "delay": 0.01}, task_id=task_id)
    wait_for(
        lambda: (store.read(task_id=task_id) or {}).get("state") == "SUCCESS",
        timeout=30,
        what="the task to succeed",
    )
    assert queues.position(task_id=task_id, queue=queue) is None
