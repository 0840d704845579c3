"""Stuck tasks explained, on a real stack: a private Redis that no worker listens on at first.

Each test starts from an empty Redis and asserts the words a user sees: in the 202
answer, the task's snapshot, the page, /health/, the WebSocket and `manage.py doctor`.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from tests.support.processes import (
    ROOT,
    Proc,
    RedisServer,
    migrate,
    stack_env,
    start_daphne,
    start_worker,
    wait_for,
)

pytestmark = [pytest.mark.slow]

WORKER_COMMAND = "celery -A django_starter worker -l info"


@dataclass
class Stack:
    """A private Redis and a live Daphne on it; workers come and go per test."""

    redis: RedisServer
    env: dict[str, str]
    base_url: str
    logs: Path

    def worker(self, **options: Any) -> Proc:
        return start_worker(self.env, log_dir=self.logs, concurrency=1, **options)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    logs = tmp_path_factory.mktemp("diagnostics-logs")
    server = RedisServer().start()
    env = stack_env(
        redis_url=server.url, database_path=logs / "db.sqlite3", STUCK_AFTER_SECONDS="1"
    )
    migrate(env)
    daphne, base_url = start_daphne(env, log_dir=logs)
    yield Stack(server, env, base_url, logs)
    daphne.stop()
    server.stop()


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    """The stack with an empty Redis: no queued task, no worker heartbeat left over."""
    client = redis.Redis.from_url(stack.redis.url)
    client.flushdb()
    client.close()
    return stack


def run_doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py doctor` as a user runs it; the timeout only guards against a hang."""
    return subprocess.run(
        [sys.executable, "manage.py", "doctor", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


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


def test_unknown_task_ids_are_404_never_pending(fresh: Stack) -> None:
    with httpx.Client(base_url=fresh.base_url, timeout=10) as client:
        for task_id in (str(uuid.uuid4()), "not-a-task-id", str(uuid.uuid4()).upper()):
            response = client.get(f"/tasks/{task_id}/")
            assert response.status_code == 404
            assert response.json() == {"error": "No task with this id belongs to you."}


def test_without_a_worker_the_task_is_queued_and_everyone_says_so(fresh: Stack) -> None:
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


def test_queue_position_counts_the_tasks_ahead_whoever_started_them(fresh: Stack) -> None:
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

        worker = fresh.worker(queues="other")  # online, but not on our queue
        try:
            last = wait_for(
                lambda: (s := status(alice, tasks[3]))["workers_online"] and s,
                what="workers_online 1",
            )
            assert last["queue_position"] == 3
        finally:
            worker.stop()


def test_a_worker_on_another_queue_is_diagnosed_in_words(fresh: Stack) -> None:
    worker = fresh.worker(queues="other")
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


async def test_a_worker_started_later_runs_the_same_task_live(fresh: Stack) -> None:
    async with httpx.AsyncClient(base_url=fresh.base_url, timeout=10) as client:
        await client.get("/")
        response = await client.post(
            "/tasks/", headers={"X-CSRFToken": client.cookies["csrftoken"]}
        )
        task = response.json()
        assert task["workers_online"] == 0
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())

    messages: list[dict[str, Any]] = []
    ws_url = fresh.base_url.replace("http://", "ws://") + task["ws_url"]
    async with websockets.connect(
        ws_url, open_timeout=10, additional_headers={"Cookie": cookie, "Origin": fresh.base_url}
    ) as ws:
        messages.append(json.loads(await asyncio.wait_for(ws.recv(), 10)))
        worker = await asyncio.to_thread(fresh.worker)
        try:
            async with asyncio.timeout(90):
                async for raw in ws:
                    messages.append(json.loads(raw))
        finally:
            await asyncio.to_thread(worker.stop)
    assert ws.close_code == 1000

    first, last = messages[0], messages[-1]
    assert (first["state"], first["workers_online"]) == ("PENDING", 0)
    assert "no worker is running" in first["message"]
    assert any(m["workers_online"] == 1 for m in messages), "workers_online must change live"
    assert any(m["state"] == "PROGRESS" for m in messages), "the bar must move"
    assert (last["state"], last["percent"], last["task_id"]) == ("SUCCESS", 100, task["task_id"])
    assert last["workers_online"] == 1
    assert last["queue_position"] is None
