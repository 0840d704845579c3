"""The chaos run: tasks from many sessions, watched like the page does, while a script
kills pool processes, the worker, Redis (SIGTERM and SIGKILL) and Daphne at random.

Bounded in time and in the number of blows. The mix: long tasks, a chord of two parts
per session, and a task written to fail. At the end every task has ended as written
(SUCCESS, or the FAILURE it raises, never an error of ours), each part ran to the end
(once per delivery: a part redelivered after a blow may run again, as Celery's late
acknowledgement promises), none is stuck, and every watcher saw its task's end. The counts are
printed (-s).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import random
import signal
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import websockets

from tests.support import processes
from tests.support.live import Watch, last_state
from tests.support.processes import Proc, wait_for
from tests.support.stack import PrivateStack

# Its own deadline for the watchers is CHAOS_SECONDS + 4 visibility timeouts + 120 s.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(480)]

SESSIONS = 8
TASKS_PER_SESSION = 4
CHAOS_SECONDS = 60
MAX_BLOWS = 14
VISIBILITY_TIMEOUT = 30  # a whole worker killed gives its task back after this


def pool_children(worker: Proc) -> list[int]:
    path = Path(f"/proc/{worker.pid}/task/{worker.pid}/children")
    try:
        return [int(pid) for pid in path.read_text().split()]
    except OSError:
        return []


async def follow(base_url: str, ws_url: str, cookie: str, until: str, deadline: float) -> int:
    """Follow a task to its end as progress.js does, through refused and dropped sockets;
    returns how many sockets it took."""
    sockets, delay = 0, 0.25
    while time.monotonic() < deadline:
        try:
            async with Watch(base_url, ws_url, cookie=cookie) as watch:
                sockets += 1
                delay = 0.25
                await watch.wait_for(
                    lambda w: w.closed or last_state(w) == until,
                    timeout=max(0.1, deadline - time.monotonic()),
                )
            if last_state(watch) == until:
                return sockets
            ended = {"SUCCESS", "FAILURE", "REVOKED"} - {until}
            assert last_state(watch) not in ended, watch.messages[-1]
            assert watch.close_code not in (4403, 4404), watch.close_code
        except (OSError, TimeoutError, websockets.InvalidHandshake):
            pass  # the web server is down or restarting: try again, as the page does
        await asyncio.sleep(delay)
        delay = min(2.0, delay * 2)
    raise AssertionError(f"{ws_url}: no {until} seen in time")


class Chaos:
    """Blows at random moments; brings back what it broke, as supervisord would."""

    def __init__(self, stack: PrivateStack, seed: int) -> None:
        self.stack = stack
        self.random = random.Random(seed)
        self.port = int(stack.base_url.rsplit(":", 1)[1])
        self.blows: collections.Counter[str] = collections.Counter()
        self.revived = 0

    def worker(self) -> Proc:
        return self.stack.worker

    def blow(self) -> None:
        kind = self.random.choice(
            ["pool", "pool", "worker", "redis-term", "redis-kill", "daphne", "daphne", "db-lock"]
        )
        self.blows[kind] += 1
        if kind == "pool":
            for pid in pool_children(self.worker())[:1]:
                with_suppressed(lambda pid=pid: __import__("os").kill(pid, signal.SIGKILL))
        elif kind == "worker":
            self.worker().signal(signal.SIGKILL)  # the whole process group, no goodbye
            self.worker().stop()
            self.stack.start_worker(concurrency=2)
        elif kind == "db-lock":
            # A long write elsewhere holds SQLite's lock: the history's writers wait for it,
            # or give their batch back to Redis, and lose nothing either way.
            db = sqlite3.connect(self.stack.logs / "db.sqlite3", timeout=30)
            try:
                db.execute("BEGIN IMMEDIATE")
                time.sleep(self.random.uniform(1, 5))
                db.rollback()
            finally:
                db.close()
        elif kind.startswith("redis"):
            assert self.stack.redis.proc is not None
            self.stack.redis.proc.signal(signal.SIGTERM if kind == "redis-term" else signal.SIGKILL)
            self.stack.redis.proc.popen.wait(15)
            self.stack.redis.stop()
            time.sleep(self.random.uniform(1, 6))
            self.stack.redis.start()  # same port, same append-only file
        else:
            assert self.stack.daphne is not None
            self.stack.daphne.signal(signal.SIGKILL)
            self.stack.daphne.stop()
            self.stack.daphne = None
            self.stack.daphne, _ = processes.start_daphne(
                self.stack.env, log_dir=self.stack.logs, port=self.port
            )

    def revive(self) -> None:
        """supervisord's other half: a worker that exited by itself starts again (kombu's
        Redis transport can end a worker whose broker vanished mid-restore)."""
        if not self.worker().alive():
            self.revived += 1
            self.worker().stop()
            self.stack.start_worker(concurrency=2)

    def run(self, until: float, done: threading.Event) -> None:
        """Blows until `until`, then only revivals until `done` (every task seen to its end)."""
        while time.monotonic() < until and sum(self.blows.values()) < MAX_BLOWS:
            time.sleep(self.random.uniform(2, 6))
            self.revive()
            self.blow()
        while not done.wait(0.5):
            self.revive()


def with_suppressed(action: Any) -> None:
    with contextlib.suppress(ProcessLookupError):
        action()


FAILING = "tests.taskapp.tasks.failing_task"
TASKS = f"django_starter.tasks.long_running_task,django_starter.tasks.parallel_demo,{FAILING}"


def start_tasks(base_url: str) -> list[tuple[str, str, str, str]]:
    """(task id, ws_url, cookie, the state it must end in) for every task: a few per session."""
    started = []
    for session in range(SESSIONS):
        with httpx.Client(base_url=base_url, timeout=10) as client:
            client.get("/")
            bodies: list[dict[str, Any]] = [
                {"kwargs": {"steps": random.randint(10, 40), "delay": 0.1}},
                {"kwargs": {"steps": random.randint(10, 40), "delay": 0.1}},
                {"task": "parallel_demo", "kwargs": {"parts": 2, "steps": 10, "delay": 0.1}},
                {"task": FAILING} if session % 2 else {"kwargs": {"steps": 20, "delay": 0.1}},
            ]
            for body in bodies[:TASKS_PER_SESSION]:
                response = client.post(
                    "/tasks/", json=body, headers={"X-CSRFToken": client.cookies["csrftoken"]}
                )
                assert response.status_code == 202, response.text
                data = response.json()
                cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
                until = "FAILURE" if body.get("task") == FAILING else "SUCCESS"
                started.append((data["task_id"], data["ws_url"], cookie, until))
    return started


def test_every_task_ends_as_written_once_through_random_kills(tmp_path: Path) -> None:
    seed = random.randrange(1_000_000)
    with PrivateStack(
        tmp_path,
        appendonly=True,
        CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
        CELERY_TASK_SOFT_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 5),
        CELERY_TASK_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 3),
        PROGRESS_MAX_ACTIVE_TASKS=str(TASKS_PER_SESSION),
        PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS=str(SESSIONS * TASKS_PER_SESSION),
        PROGRESS_TASKS=TASKS,
    ) as stack:
        stack.start_worker(concurrency=2)
        tasks = start_tasks(stack.base_url)
        chaos = Chaos(stack, seed)

        async def watch_all() -> list[int]:
            deadline = time.monotonic() + CHAOS_SECONDS + 4 * VISIBILITY_TIMEOUT + 120
            return await asyncio.gather(
                *(
                    follow(stack.base_url, url, cookie, until, deadline)
                    for _, url, cookie, until in tasks
                )
            )

        async def both() -> list[int]:
            done = threading.Event()
            blows = asyncio.ensure_future(
                asyncio.to_thread(chaos.run, time.monotonic() + CHAOS_SECONDS, done)
            )
            try:
                return await watch_all()
            finally:
                done.set()
                await blows

        sockets = asyncio.run(both())

        client = redis.Redis.from_url(stack.redis.url, decode_responses=True)

        def snapshot(task_id: str) -> dict[str, Any]:
            raw = client.hgetall(f"progress:task:{task_id}")
            return {str(k): json.loads(v) for k, v in raw.items()}

        def result(task_id: str) -> str | None:
            raw = client.get(f"celery-task-meta-{task_id}")
            return json.loads(str(raw))["status"] if raw else None

        def ended() -> bool:
            return all(
                snapshot(task_id).get("state") == until and result(task_id) == until
                for task_id, _, _, until in tasks
            )

        wait_for(ended, timeout=60, interval=0.5, what="every snapshot and result as written")

        def rows() -> list[tuple[str, str, str]]:
            db = sqlite3.connect(tmp_path / "db.sqlite3", timeout=30)
            try:
                query = "SELECT task_id, state, owner FROM live_progress_taskrun"
                return [(str(t), str(s), str(o)) for t, s, o in db.execute(query)]
            finally:
                db.close()

        def history_ended() -> bool:
            states = {task_id: state for task_id, state, _ in rows()}
            return all(states.get(task_id) == until for task_id, _, _, until in tasks)

        # The history too: one row per task, with its end and its owner, whatever the blows.
        wait_for(history_ended, timeout=60, interval=0.5, what="every task's row as written")
        ours = {task_id for task_id, _, _, _ in tasks}
        found = [row for row in rows() if row[0] in ours]
        assert len(found) == len(ours), "a task has no row, or two"
        assert all(owner.startswith("session:") for _, _, owner in found), found
        failed = [task_id for task_id, _, _, until in tasks if until == "FAILURE"]
        errors = {snapshot(task_id)["error"] for task_id in failed}
        # Every part that ran to its end: the tasks, each chord's parts and its callback.
        parts = [task_id for task_id, _, _, until in tasks if until == "SUCCESS"]
        for task_id in parts[:]:
            parts += [child["task_id"] for child in snapshot(task_id).get("children") or []]
        client.close()
        logs = "".join(path.read_text(errors="replace") for path in tmp_path.glob("worker-*.log"))
        succeeded = {task_id: logs.count(f"[{task_id}] succeeded") for task_id in parts}
        print(
            f"\nchaos seed {seed}: {len(tasks)} tasks from {SESSIONS} sessions ({len(parts)} "
            f"parts that succeed, {len(failed)} written to fail); blows {dict(chaos.blows)}, "
            f"workers revived {chaos.revived}; "
            f"sockets opened {sum(sockets)} ({sum(sockets) - len(tasks)} reconnects); "
            f"deliveries beyond the first "
            f"{sum(max(0, logs.count(f'[{task_id}] received') - 1) for task_id in parts)}"
        )
        assert errors <= {"ValueError: Something went wrong"}, errors
        never = [task_id for task_id, n in succeeded.items() if n == 0]
        assert not never, (never, seed)
        # A part runs again only when the broker gave it again: at least once, as Celery's
        # late acknowledgement promises (a worker or Redis killed between a part's end and
        # its acknowledgement redelivers it), never twice from one delivery.
        received = {task_id: logs.count(f"[{task_id}] received") for task_id in parts}
        twice = {t: (n, received[t]) for t, n in succeeded.items() if n > received[t]}
        assert not twice, (twice, seed)
