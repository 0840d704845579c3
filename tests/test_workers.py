"""Worker presence and queue bookkeeping against the session's real Redis and worker."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from diagnostics import queues
from diagnostics.live import explain
from django_starter.celery import app as celery_app
from django_starter.tasks import long_running_task
from live_progress.store import keys, snapshots
from live_progress.store.client import get_redis
from live_progress.store.workers import worker_details, workers_online
from live_progress.web import services
from tests.support.expected import WORKER_COMMAND
from tests.support.processes import Proc, wait_for
from tests.support.tasks import create_task

LONG = "django_starter.tasks.long_running_task"


def rank(task_id: str, queue: str) -> int | None:
    """How many of our tasks wait ahead of `task_id` in `queue` (None: not waiting there)."""
    return get_redis().zrank(keys.queued_key(queue), task_id)  # type: ignore[return-value]


@pytest.fixture
def unconsumed_queue() -> Iterator[str]:
    """A queue no worker consumes; its messages and bookkeeping are deleted afterwards."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    yield queue
    get_redis().delete(queue, keys.queued_key(queue))


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
    ids = [create_task(queue=queue) for _ in range(4)]
    assert [rank(t, queue) for t in ids] == [0, 1, 2, 3]
    snapshots.record(ids[0], state="STARTED")  # leaving PENDING leaves the queue, same script
    assert [rank(t, queue) for t in ids] == [None, 0, 1, 2]
    snapshots.record(ids[2], state="REVOKED")
    assert [rank(t, queue) for t in ids] == [None, 0, None, 1]
    assert queues.waiting(get_redis(), [queue]) == {queue: 2}


@pytest.mark.django_db
def test_a_task_sent_by_start_is_counted_in_its_queue_and_says_its_position(
    unconsumed_queue: str,
) -> None:
    queue = unconsumed_queue
    owner = f"session:{uuid.uuid4().hex}"
    first = services.start(long_running_task.s(steps=1).set(queue=queue), owner=owner)
    second = services.start(long_running_task.s(steps=1).set(queue=queue), owner=owner)
    assert [rank(first["task_id"], queue), rank(second["task_id"], queue)] == [0, 1]
    assert (first["queue_position"], second["queue_position"]) == (0, 1)
    assert snapshots.read(task_id=first["task_id"])["queue"] == queue  # type: ignore[index]
    # The page's words follow the position (when a worker is online at all).
    if second["workers_online"]:
        assert second["message"] == "Queued: 1 task ahead of yours."
    else:
        assert (
            second["message"] == f"Queued: no worker is running. Start one with: {WORKER_COMMAND}"
        )


def test_a_task_sent_without_the_api_costs_no_queue_bookkeeping(unconsumed_queue: str) -> None:
    queue = unconsumed_queue
    result = long_running_task.apply_async(kwargs={"steps": 1}, queue=queue)
    assert get_redis().llen(queue) == 1  # the message is in the broker...
    assert rank(result.id, queue) is None  # ...but not in our list of waiting tasks
    assert snapshots.read(task_id=result.id) is None


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
        node = worker.node  # type: ignore[attr-defined]
        return bool(next(w for w in worker_details() if w["name"] == node)["active"] == 0)

    wait_for(idle, timeout=60, what="the session worker to be idle")


@pytest.mark.slow
@pytest.mark.django_db
def test_a_started_task_leaves_its_queue(worker: Proc, unconsumed_queue: str) -> None:
    assert queues.queue_for(LONG) == "celery"
    queue = unconsumed_queue  # queued where the worker does not look yet: no race
    task_id = services.start(
        long_running_task.s(steps=2, delay=0.01).set(queue=queue), owner="session:queue"
    )["task_id"]
    assert rank(task_id, queue) == 0
    node = [worker.node]  # type: ignore[attr-defined]
    celery_app.control.add_consumer(queue, destination=node, reply=True, timeout=10)
    try:
        wait_for(
            lambda: (snapshots.read(task_id=task_id) or {"state": ""})["state"] == "SUCCESS",
            timeout=60,
            what="the task to succeed",
        )
    finally:  # the session's worker is left as it was found, its heartbeat too
        celery_app.control.cancel_consumer(queue, destination=node, reply=True, timeout=10)
        wait_for(
            lambda: (
                queue not in next(w for w in worker_details() if w["name"] == node[0])["queues"]
            ),
            timeout=30,
            what="the worker's heartbeat to drop the extra queue",
        )
    assert rank(task_id, queue) is None
