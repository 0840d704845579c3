"""A task whose pool process died runs next, not behind the tasks queued after it."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.processes import Proc, wait_for
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]


def pool_children(worker: Proc) -> list[int]:
    """Pids of the prefork pool processes of the worker."""
    path = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    return [int(pid) for pid in path.read_text().split()]


def start(base_url: str, steps: int) -> str:
    """POST /tasks/ from a fresh session (the per-owner limit stays out of the way)."""
    with httpx.Client(base_url=base_url, timeout=10) as client:
        client.get("/")
        response = client.post(
            "/tasks/",
            json={"kwargs": {"steps": steps, "delay": 0.1}},
            headers={"X-CSRFToken": client.cookies["csrftoken"]},
        )
        assert response.status_code == 202, response.text
        return str(response.json()["task_id"])


def test_an_interrupted_task_runs_again_before_the_queue_behind_it(tmp_path: Path) -> None:
    with PrivateStack(tmp_path) as stack:
        worker = stack.start_worker(concurrency=1)
        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)

        def snapshot(task_id: str) -> dict[str, Any]:
            raw = client.hgetall(f"progress:task:{task_id}")
            return {str(k): json.loads(v) for k, v in raw.items()}

        interrupted = start(stack.base_url, steps=30)
        behind = [start(stack.base_url, steps=3) for _ in range(4)]
        wait_for(
            lambda: snapshot(interrupted).get("current", 0) >= 5,
            timeout=30,
            what="the first task under way",
        )
        (child,) = pool_children(worker)
        os.kill(child, signal.SIGKILL)  # SIGKILL cannot be caught or ignored
        wait_for(
            lambda: all(snapshot(t).get("state") == "SUCCESS" for t in [interrupted, *behind]),
            timeout=90,
            interval=0.5,
            what="every task to succeed",
        )
        restarted = snapshot(interrupted)["started_at"]
        # One pool process: the interrupted task started again before any queued one did.
        assert all(snapshot(t)["started_at"] > restarted for t in behind), (
            restarted,
            [snapshot(t)["started_at"] for t in behind],
        )
        assert "WorkerLostError" in worker.log()
        client.close()


def test_a_task_interrupted_again_goes_behind_the_queue(tmp_path: Path) -> None:
    """Only the first time at the head: a task that kills its process every time must
    not keep the worker from the tasks behind it."""
    with PrivateStack(tmp_path) as stack:
        worker = stack.start_worker(concurrency=1)
        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)

        def snapshot(task_id: str) -> dict[str, Any]:
            raw = client.hgetall(f"progress:task:{task_id}")
            return {str(k): json.loads(v) for k, v in raw.items()}

        def kill_when_under_way(since: str | None) -> str:
            def under_way() -> bool:
                now = snapshot(interrupted)
                return now.get("started_at") != since and now.get("current", 0) >= 5

            wait_for(under_way, timeout=60, what="the task under way")
            started = str(snapshot(interrupted)["started_at"])
            (child,) = pool_children(worker)
            os.kill(child, signal.SIGKILL)
            return started

        interrupted = start(stack.base_url, steps=40)
        behind = [start(stack.base_url, steps=3) for _ in range(3)]
        first = kill_when_under_way(None)
        second = kill_when_under_way(first)  # the run at the head, killed again
        wait_for(
            lambda: all(snapshot(t).get("state") == "SUCCESS" for t in [interrupted, *behind]),
            timeout=90,
            interval=0.5,
            what="every task to succeed",
        )
        third = snapshot(interrupted)["started_at"]
        starts = [snapshot(t)["started_at"] for t in behind]
        assert all(second < s < third for s in starts), (first, second, third, starts)
        client.close()
