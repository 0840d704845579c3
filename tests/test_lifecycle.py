"""A tracked task's end on real processes: Redis away while it finishes, time limits.

Each test runs a private stack (its own append-only redis-server, worker and Daphne),
so it can stop Redis or hold a task past its limit without touching the session's stack.
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.processes import wait_for
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]

TASKS = 4


def snapshot_of(client: redis.Redis, task_id: str) -> dict[str, Any]:
    """The task's stored snapshot, read straight from Redis."""
    raw = client.hgetall(f"progress:task:{task_id}")
    return {str(field): json.loads(value) for field, value in raw.items()}


def celery_state(client: redis.Redis, task_id: str) -> str | None:
    """What Celery's result backend says of the task."""
    raw = client.get(f"celery-task-meta-{task_id}")
    return json.loads(raw)["status"] if raw else None


def start(base_url: str, task: str = "long_running_task", **kwargs: Any) -> str:
    """POST /tasks/ from a fresh session (so the per-owner limit never interferes)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.get("/")
        response = client.post(
            "/tasks/",
            json={"task": task, "kwargs": kwargs},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["task_id"])


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[PrivateStack]:
    with PrivateStack(tmp_path, appendonly=True) as stack:
        stack.start_worker(concurrency=2)
        yield stack


@pytest.mark.parametrize(
    ("signum", "outage"),
    [(signal.SIGTERM, 8), (signal.SIGKILL, 30)],
    ids=["SIGTERM-8s", "SIGKILL-30s"],
)
def test_tasks_that_finish_while_redis_is_away_end_in_success(
    stack: PrivateStack, signum: int, outage: float
) -> None:
    client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
    # Two run now and end during the outage; two wait in the queue and run after it.
    ids = [start(stack.base_url, steps=20, delay=0.1) for _ in range(TASKS)]
    wait_for(
        lambda: sum(snapshot_of(client, i)["state"] == "PROGRESS" for i in ids) == 2,
        timeout=30,
        what="two tasks running",
    )
    assert stack.redis.proc is not None
    # redis-server sets its own SIGTERM handler (a clean shutdown); SIGKILL cannot be caught.
    stack.redis.proc.signal(signum)
    stack.redis.proc.popen.wait(15)
    stack.redis.stop()
    time.sleep(outage)  # the running tasks end while Redis is away
    stack.redis.start()  # same port, same append-only file

    def all_ended() -> bool:
        ended = ("SUCCESS", "FAILURE")
        return all(
            snapshot_of(client, i).get("state") in ended and celery_state(client, i) for i in ids
        )

    wait_for(all_ended, timeout=90, interval=0.5, what="every task to end")
    states = {i: (snapshot_of(client, i)["state"], celery_state(client, i)) for i in ids}
    errors = {i: snapshot_of(client, i).get("error") for i in ids}
    assert set(states.values()) == {("SUCCESS", "SUCCESS")}, (states, errors)
    log = stack.worker.log()
    assert [log.count(f"[{i}] succeeded") for i in ids] == [1] * TASKS, "each ran once"
    # And each message was acknowledged: none waits to be delivered again later.
    wait_for(lambda: client.hlen("unacked") == 0, timeout=30, what="every message acknowledged")
    client.close()


def test_a_task_past_its_time_limit_fails_saying_so(tmp_path: Path) -> None:
    tasks = "django_starter.tasks.long_running_task,tests.taskapp.tasks.stubborn_task"
    with PrivateStack(
        tmp_path,
        PROGRESS_TASKS=tasks,
        CELERY_TASK_SOFT_TIME_LIMIT="1",
        CELERY_TASK_TIME_LIMIT="3",
    ) as stack:
        stack.start_worker(concurrency=2)
        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)
        soft = start(stack.base_url, steps=100, delay=0.1)
        hard = start(stack.base_url, "tests.taskapp.tasks.stubborn_task")

        def ended(task_id: str) -> dict[str, Any] | None:
            stored = snapshot_of(client, task_id)
            return stored if stored.get("state") in ("SUCCESS", "FAILURE") else None

        stored = wait_for(lambda: ended(soft), timeout=60, what="the soft limit to end it")
        assert (stored["state"], stored["error"]) == (
            "FAILURE",
            "Stopped: the task ran past its time limit of 1 s.",
        )
        # Past the hard limit the worker kills the pool process; its main process says so.
        stored = wait_for(lambda: ended(hard), timeout=60, what="the hard limit to end it")
        assert (stored["state"], stored["error"]) == (
            "FAILURE",
            "Stopped: the task ran past its time limit of 3 s.",
        )
        wait_for(lambda: celery_state(client, hard) == "FAILURE", what="Celery's FAILURE")
        client.close()
