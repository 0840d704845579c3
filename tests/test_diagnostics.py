"""Stuck tasks explained, on a real stack: a private Redis that no worker listens on at first.

Each test starts from an empty Redis and asserts the words a user sees: in the 202
answer, the task's snapshot, the page, /health/, the WebSocket and `manage.py doctor`.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import redis

from tests.support.expected import WORKER_COMMAND
from tests.support.live import Watch, cookie_header, start_task
from tests.support.processes import run_doctor, wait_for
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """A private Redis and a live Daphne on it; workers come and go per test."""
    with PrivateStack(
        tmp_path_factory.mktemp("diagnostics-logs"), STUCK_AFTER_SECONDS="1"
    ) as stack:
        yield stack


@pytest.fixture
def fresh(stack: PrivateStack) -> PrivateStack:
    """The stack with an empty Redis: no queued task, no worker heartbeat left over."""
    client = redis.Redis.from_url(stack.redis.url)
    client.flushdb()
    client.close()
    return stack


def start(client: httpx.Client) -> dict[str, Any]:
    if "csrftoken" not in client.cookies:
        client.get("/")
    response = client.post("/tasks/", headers={"X-CSRFToken": client.cookies["csrftoken"]})
    assert response.status_code == 202, response.text
    return dict(response.json())


def status(client: httpx.Client, task: dict[str, Any]) -> dict[str, Any]:
    response = client.get(task["status_url"])
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_unknown_task_ids_are_404_never_pending(fresh: PrivateStack) -> None:
    with httpx.Client(base_url=fresh.base_url, timeout=10) as client:
        for task_id in (str(uuid.uuid4()), "not-a-task-id", str(uuid.uuid4()).upper()):
            response = client.get(f"/tasks/{task_id}/")
            assert response.status_code == 404
            assert response.json() == {"error": "No task with this id belongs to you."}


def test_without_a_worker_the_task_is_queued_and_everyone_says_so(fresh: PrivateStack) -> None:
    with httpx.Client(base_url=fresh.base_url, timeout=10) as client:
        started = start(client)
        assert started["state"] == "PENDING"
        assert started["workers_online"] == 0
        assert (
            started["message"] == f"Queued: no worker is running. Start one with: {WORKER_COMMAND}"
        )
        assert status(client, started)["message"] == started["message"]

        page = client.get("/").text
        banner = re.search(r'<div id="no-worker"[^>]*>(.*?)</div>', page, re.S)
        assert banner is not None and "hidden" not in banner.group(0).split(">")[0]
        assert "No worker is running" in banner.group(1)
        assert WORKER_COMMAND in banner.group(1)

        health = client.get("/health/")
        assert health.status_code == 200
        workers = health.json()["workers"]
        assert (workers["online"], workers["status"]) == (0, "FAIL")
        assert workers["fix"] == WORKER_COMMAND
        assert health.json()["queues"]["queues"]["celery"]["waiting"] == 1

    doctor = run_doctor(fresh.env)
    assert doctor.returncode == 1
    assert re.search(r"FAIL\s+Workers\s+no worker is running", doctor.stdout), doctor.stdout
    assert f"fix: {WORKER_COMMAND}" in doctor.stdout
    assert re.search(r"OK\s+Redis\s+Redis [\d.]+ answers", doctor.stdout)


def test_queue_position_counts_the_tasks_ahead_whoever_started_them(fresh: PrivateStack) -> None:
    with (
        httpx.Client(base_url=fresh.base_url, timeout=10) as alice,
        httpx.Client(base_url=fresh.base_url, timeout=10) as bob,
    ):
        tasks = [start(alice), start(bob), start(bob), start(alice)]
        assert [task["queue_position"] for task in tasks] == [0, 1, 2, 3]
        last = status(alice, tasks[3])
        assert last["queue_position"] == 3
        # With no worker, the missing worker is what the user must hear first.
        assert "no worker is running" in last["message"]

        worker = fresh.start_worker(queues="other")  # online, but not on our queue
        try:
            last = wait_for(
                lambda: (s := status(alice, tasks[3]))["workers_online"] and s,
                what="workers_online 1",
            )
            assert last["queue_position"] == 3
        finally:
            worker.stop()


def test_a_worker_on_another_queue_is_diagnosed_in_words(fresh: PrivateStack) -> None:
    worker = fresh.start_worker(queues="other")
    try:
        with httpx.Client(base_url=fresh.base_url, timeout=10) as client:
            task = start(client)
            assert task["workers_online"] == 1
            # Past STUCK_AFTER_SECONDS (1 s here), the snapshot says why it waits.
            stuck = wait_for(
                lambda: "none consumes" in (s := status(client, task))["message"] and s,
                what="the wrong-queue diagnosis",
            )
        assert stuck["state"] == "PENDING"
        assert re.fullmatch(
            r'Queued for \d+ s: 1 worker online, but none consumes the queue "celery" '
            r"\(they consume: other\)\. Start one that does: "
            r"celery -A django_starter worker -l info -Q celery",
            stuck["message"],
        ), stuck
        doctor = run_doctor(fresh.env)
        assert doctor.returncode == 1
        assert re.search(r'FAIL\s+Queues\s+no worker consumes "celery"', doctor.stdout)
        assert f"fix: {WORKER_COMMAND} -Q celery" in doctor.stdout
        assert re.search(r"OK\s+Workers\s+1 online", doctor.stdout), doctor.stdout
    finally:
        worker.stop()


async def test_a_worker_started_later_runs_the_same_task_live(fresh: PrivateStack) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url, timeout=10) as client:
        task = await start_task(client)
        assert task["workers_online"] == 0
        cookie = cookie_header(client)

    async with Watch(fresh.base_url, task["ws_url"], cookie=cookie) as ws:
        await ws.wait_for(lambda w: w.messages, timeout=10, what="the first snapshot")
        worker = await asyncio.to_thread(fresh.start_worker)
        try:
            await ws.until_closed(timeout=90)
        finally:
            await asyncio.to_thread(worker.stop)
    assert ws.close_code == 1000

    messages = ws.messages
    first, last = messages[0], messages[-1]
    assert (first["state"], first["workers_online"]) == ("PENDING", 0)
    assert "no worker is running" in first["message"]
    assert any(m["workers_online"] == 1 for m in messages), "workers_online must change live"
    assert any(m["state"] == "PROGRESS" for m in messages), "the bar must move"
    assert (last["state"], last["percent"], last["task_id"]) == ("SUCCESS", 100, task["task_id"])
    assert last["workers_online"] == 1
    assert last["queue_position"] is None
