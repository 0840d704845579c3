"""Faults on real processes: killed workers, Redis going away, failing and cancelled tasks.

The kill and outage tests run on a private stack (its own append-only redis-server,
worker and Daphne) so they can break it without touching the rest of the session.
Failure, retry and cancel run on the session's stack, where this process can queue
the demo tasks itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from celery import Task
from celery.result import AsyncResult

from live_progress.store import snapshots
from live_progress.web import services
from tests.support.live import (
    Watch,
    cancel_task,
    cookie_header,
    follow_like_the_page,
    last_state,
    start_task,
)
from tests.support.processes import Proc, wait_for
from tests.support.stack import PrivateStack
from tests.taskapp.tasks import failing_task, flaky_task

pytestmark = [pytest.mark.slow]

# Tasks in the private stack stay shorter than this, so a running task is never restored
# by the visibility sweep while it still runs.
VISIBILITY_TIMEOUT = 20  # above the longest task here, outages included


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """A private Redis (append-only), one worker with one process, one Daphne."""
    with PrivateStack(
        tmp_path_factory.mktemp("fault-logs"),
        appendonly=True,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_TASK_SOFT_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 3),
        CELERY_TASK_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 2),
    ) as stack:
        stack.start_worker()
        yield stack


def pool_children(worker: Proc) -> list[int]:
    """Pids of the prefork pool processes of the worker."""
    path = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def progressed(percent: int) -> Callable[[Watch], bool]:
    return lambda w: any(m["state"] == "PROGRESS" and m["percent"] >= percent for m in w.messages)


def assert_restarted_then_succeeded(watch: Watch) -> None:
    seqs = [m["seq"] for m in watch.messages]
    # Never backwards; a repeat is the same snapshot re-sent with a new workers_online.
    assert seqs == sorted(seqs), "seq keeps growing across the restart"
    assert "STARTED" in watch.states[1:], f"the page sees it start again: {watch.states}"
    restart = len(watch.states) - 1 - watch.states[::-1].index("STARTED")
    before = max(m["current"] for m in watch.messages[:restart])
    assert watch.messages[restart]["current"] == 0 < before, "the bar starts over"
    assert watch.messages[-1]["state"] == "SUCCESS"
    assert watch.messages[-1]["percent"] == 100
    assert watch.close_code == 1000


async def test_killed_pool_process_task_is_redelivered_and_completes(stack: PrivateStack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        started = await start_task(client, steps=50)
        async with Watch(stack.base_url, started["ws_url"], cookie=cookie_header(client)) as ws:
            await ws.wait_for(progressed(20), what="progress before the kill")
            (child,) = pool_children(stack.worker)
            os.kill(child, signal.SIGKILL)
            await ws.wait_for(
                lambda w: last_state(w) == "SUCCESS",
                timeout=60,
                what="SUCCESS after the pool process was killed",
            )
            await ws.until_closed()
        assert_restarted_then_succeeded(ws)
        assert "WorkerLostError" in stack.worker.log()


async def test_killed_worker_task_returns_after_visibility_timeout(stack: PrivateStack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
        started = await start_task(client, steps=50)
        async with Watch(stack.base_url, started["ws_url"], cookie=cookie_header(client)) as ws:
            await ws.wait_for(progressed(20), what="progress before the kill")
            killed_at = time.monotonic()
            stack.worker.signal(signal.SIGKILL)  # the whole process group: no goodbye
            stack.worker.stop()
            await asyncio.to_thread(stack.start_worker)
            await ws.wait_for(
                lambda w: w.states[-1:] == ["STARTED"] or last_state(w) == "SUCCESS",
                timeout=VISIBILITY_TIMEOUT + 30,
                what="the task to come back",
            )
            returned_after = time.monotonic() - killed_at
            await ws.wait_for(
                lambda w: last_state(w) == "SUCCESS", timeout=60, what="SUCCESS on the new worker"
            )
            await ws.until_closed()
        assert_restarted_then_succeeded(ws)
        # Not before the visibility timeout: that is what brought it back.
        assert returned_after >= VISIBILITY_TIMEOUT - 3


async def test_redis_outage_answers_503_and_everything_recovers(stack: PrivateStack) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=5) as client:
        running = await start_task(client, steps=80)
        queued = await start_task(client, steps=5)
        async with Watch(stack.base_url, running["ws_url"], cookie=cookie_header(client)) as ws:
            await ws.wait_for(progressed(5), what="the first task running")
            assert (await client.get(queued["status_url"])).json()["state"] == "PENDING"

            stack.redis.stop()
            # The WebSocket tells the page that its source is gone (close code 4503).
            await ws.until_closed(timeout=10)
            assert ws.close_code == 4503

            for method, url in [
                ("GET", running["status_url"]),
                ("POST", "/tasks/"),
                ("GET", "/health/"),
                ("GET", "/"),
            ]:
                began = time.monotonic()
                response = await client.request(
                    method, url, headers={"X-CSRFToken": client.cookies["csrftoken"]}
                )
                assert time.monotonic() - began < 5, f"{method} {url} must not hang"
                assert response.status_code == 503, (method, url, response.text)
                assert response.headers["content-type"] == "application/json"
                body = response.json()
                if url != "/health/":
                    assert body["error"].startswith("Redis is not answering")
                    assert "Traceback" not in response.text

            # While Redis is away, a new socket is refused with the same code.
            async with Watch(
                stack.base_url, running["ws_url"], cookie=cookie_header(client)
            ) as refused:
                await refused.until_closed(timeout=10)
            assert refused.messages == [] and refused.close_code == 4503

            stack.redis.start()  # same port, same append-only file

        # Everything recovers by itself: web, WebSocket, worker; the queued task was kept.
        response = await asyncio.to_thread(
            wait_for,
            lambda: httpx.get(stack.base_url + "/health/").status_code == 200,
            timeout=20,
            what="health back to 200",
        )
        assert response
        for task in (running, queued):
            watches = await follow_like_the_page(
                stack.base_url, task["ws_url"], cookie=cookie_header(client)
            )
            assert watches[-1].messages[-1]["percent"] == 100
        assert (await client.get(queued["status_url"])).json()["state"] == "SUCCESS"


# --- failures, retries and cancel, on the session stack --------------------------------


async def owner_of(client: httpx.AsyncClient) -> str:
    """The owner identity of this client's session (from a one-step task it starts)."""
    started = await start_task(client, steps=1)
    snapshot = snapshots.read(task_id=started["task_id"])
    assert snapshot is not None
    return str(snapshot["owner"])


async def queue_for(client: httpx.AsyncClient, task: Task[Any, Any], **kwargs: Any) -> str:
    """Start one of the test app's tasks for this client's session with the public API."""
    owner = await owner_of(client)
    started = await asyncio.to_thread(services.start, task.s(**kwargs), owner=owner)
    return started["task_id"]


@pytest.mark.django_db(transaction=True)
async def test_failing_task_shows_a_short_error(live_server_url: str, worker: Proc) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        task_id = await queue_for(client, failing_task, message="The photo is corrupt")
        async with Watch(
            live_server_url, f"/ws/progress/{task_id}/", cookie=cookie_header(client)
        ) as ws:
            await ws.until_closed()
        final = ws.messages[-1]
        assert final["state"] == "FAILURE"
        assert final["error"] == "ValueError: The photo is corrupt"
        assert final["message"] == "Failed"
        assert ws.close_code == 1000
        response = await client.get(f"/tasks/{task_id}/")
        assert response.json()["error"] == "ValueError: The photo is corrupt"
        assert "Traceback" not in response.text and 'File "' not in response.text


@pytest.mark.django_db(transaction=True)
async def test_retry_shows_the_next_attempt(live_server_url: str, worker: Proc) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        task_id = await queue_for(client, flaky_task, fail_times=1)
        async with Watch(
            live_server_url, f"/ws/progress/{task_id}/", cookie=cookie_header(client)
        ) as ws:
            await ws.wait_for(
                lambda w: last_state(w) == "SUCCESS", timeout=30, what="the retried task to succeed"
            )
        retry = next(m for m in ws.messages if m["state"] == "RETRY")
        assert retry["message"] == (
            "Attempt 1 failed (ConnectionError: the service did not answer); attempt 2 of 3 in 1s"
        )
        assert ws.states.index("RETRY") < len(ws.states) - 1
        assert ws.messages[-1]["result"] == "succeeded on attempt 2"


async def test_cancel_running_task(live_server_url: str, worker: Proc) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        started = await start_task(client, steps=1000)
        async with Watch(live_server_url, started["ws_url"], cookie=cookie_header(client)) as ws:
            await ws.wait_for(lambda w: last_state(w) == "PROGRESS", what="the task running")
            response = await cancel_task(client, started["task_id"])
            assert response.status_code == 200
            assert response.json()["state"] == "REVOKED"
            assert response.json()["message"] == "Cancelled"
            await ws.until_closed(timeout=10)
        assert ws.messages[-1]["state"] == "REVOKED" and ws.close_code == 1000
        # The worker really stopped it: Celery's own result says so, and the bar stays put.
        wait_for(
            lambda: str(AsyncResult(started["task_id"]).state) == "REVOKED",
            timeout=10,
            what="Celery to record the revoke",
        )
        before = (await client.get(started["status_url"])).json()
        await asyncio.sleep(1)
        after = (await client.get(started["status_url"])).json()
        assert after["state"] == "REVOKED" and after["current"] == before["current"]


async def test_cancel_queued_task_never_runs(live_server_url: str, worker: Proc) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        busy = [await start_task(client, steps=1000) for _ in range(2)]  # both pool processes
        queued = await start_task(client, steps=5)
        response = await cancel_task(client, queued["task_id"])
        assert response.json()["state"] == "REVOKED"
        for task in busy:
            assert (await cancel_task(client, task["task_id"])).json()["state"] == "REVOKED"
        # The worker takes the queued one off the queue and drops it: it never starts.
        wait_for(
            lambda: str(AsyncResult(queued["task_id"]).state) == "REVOKED",
            timeout=15,
            what="the worker to drop the revoked task",
        )
        final = (await client.get(queued["status_url"])).json()
        assert final["state"] == "REVOKED" and final["current"] == 0


async def test_a_task_cancelled_while_no_worker_runs_stays_cancelled(tmp_path: Path) -> None:
    """Celery's revoke reaches only the workers online; a worker started later still finds
    the task cancelled (its snapshot says REVOKED) and ends it before it does any work."""
    with PrivateStack(tmp_path) as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            queued = await start_task(client, steps=20)
            assert queued["workers_online"] == 0
            assert (await cancel_task(client, queued["task_id"])).json()["state"] == "REVOKED"

            worker = stack.start_worker()
            results = redis.Redis.from_url(stack.redis.url)

            def celery_state() -> str | None:
                raw = results.get(f"celery-task-meta-{queued['task_id']}")
                return json.loads(raw)["status"] if raw else None

            wait_for(
                lambda: celery_state() == "REVOKED",
                timeout=30,
                what="the late worker to end the cancelled task",
            )
            results.close()
            final = (await client.get(queued["status_url"])).json()
            assert (final["state"], final["current"], final["message"]) == (
                "REVOKED",
                0,
                "Cancelled",
            )
            assert "succeeded" not in worker.log()
