"""Figures that need the worker: task timings, progress.set cost, message latency, presence."""

from __future__ import annotations

import asyncio
import json
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from diagnostics.workers import workers_online
from django_starter.celery import app as celery_app
from progress import store

from .web import connect_ws


@dataclass
class Followed:
    """What a WebSocket client saw of one task, with receive times (perf_counter)."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)
    wall_at: list[float] = field(default_factory=list)

    def first_time(self, *states: str) -> float | None:
        for message, at in zip(self.messages, self.received_at, strict=True):
            if message["state"] in states:
                return at
        return None


async def follow(ws: Any, timeout: float) -> Followed:
    """Read messages until the server closes the socket (after the terminal state)."""
    seen = Followed()
    async with asyncio.timeout(timeout):
        async for raw in ws:
            seen.received_at.append(time.perf_counter())
            seen.wall_at.append(time.time())
            seen.messages.append(json.loads(raw))
    if not seen.messages or seen.messages[-1]["state"] != store.SUCCESS:
        last = seen.messages[-1] if seen.messages else None
        raise RuntimeError(f"task did not reach SUCCESS; last message: {last}")
    return seen


async def short_task_timings(
    base_url: str, *, owner: str, cookie: str, count: int, steps: int, delay: float
) -> dict[str, list[float]]:
    """A short long_running_task watched from before it is sent: STARTED and SUCCESS times."""
    times: dict[str, list[float]] = {"started": [], "success": []}
    for _ in range(count):
        task_id = str(uuid.uuid4())
        store.create(task_id=task_id, owner=owner)
        async with connect_ws(base_url, task_id, cookie) as ws:
            await ws.recv()  # the PENDING snapshot, as the page has it after POST /tasks/
            sent = time.perf_counter()
            celery_app.send_task(
                "django_starter.tasks.long_running_task",
                task_id=task_id,
                kwargs={"steps": steps, "delay": delay},
            )
            seen = await follow(ws, timeout=60)
        began = seen.first_time(store.STARTED, store.PROGRESS, store.SUCCESS)
        done = seen.first_time(store.SUCCESS)
        assert began is not None and done is not None
        times["started"].append(began - sent)
        times["success"].append(done - sent)
    return times


async def tight_loop(base_url: str, *, owner: str, cookie: str, calls: int) -> dict[str, Any]:
    """10^6 progress.set calls in a real task, watched by a WebSocket client from the start."""
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner=owner)
    async with connect_ws(base_url, task_id, cookie) as ws:
        await ws.recv()  # the PENDING snapshot: the client is subscribed from here on
        celery_app.send_task("bench.tight_loop", kwargs={"calls": calls}, task_id=task_id)
        seen = await follow(ws, timeout=300)
    final = seen.messages[-1]
    progress = [m for m in seen.messages if m["state"] == store.PROGRESS]
    return {
        **final["result"],
        "messages": len(seen.messages) + 1,  # + the PENDING snapshot read above
        "progress_messages": len(progress),
        "writes": final["seq"],
        "last_progress": progress[-1]["current"] if progress else None,
        "final_current": final["current"],
        "final_percent": final["percent"],
    }


async def message_latency(base_url: str, *, owner: str, cookie: str, count: int) -> list[float]:
    """Worker's progress.set (wall time in the message) → WebSocket client receive."""
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner=owner)
    async with connect_ws(base_url, task_id, cookie) as ws:
        await ws.recv()
        celery_app.send_task("bench.latency_probe", kwargs={"count": count}, task_id=task_id)
        seen = await follow(ws, timeout=120)
    return [
        at - float(m["message"])
        for m, at in zip(seen.messages, seen.wall_at, strict=True)
        if m["state"] == store.PROGRESS
    ]


def time_calls(function: Any, count: int) -> tuple[list[float], Any]:
    """Call `function` `count` times; durations and the last result."""
    durations = []
    result = None
    for _ in range(count):
        started = time.perf_counter()
        result = function()
        durations.append(time.perf_counter() - started)
    return durations, result


def presence_costs(*, zcounts: int, pings: int, ping_timeout: float) -> dict[str, Any]:
    """workers_online() (one ZCOUNT on the heartbeat set) against Celery's control.ping."""
    zcount, online = time_calls(workers_online, zcounts)
    ping, replies = time_calls(lambda: celery_app.control.ping(timeout=ping_timeout), pings)
    return {"zcount": zcount, "online": online, "ping": ping, "replies": len(replies or [])}


async def worker_loss_detection(
    worker: Any, base_url: str, *, owner: str, cookie: str, timeout: float = 15.0
) -> tuple[float, float]:
    """SIGKILL the worker (no goodbye): seconds until workers_online() reads 0, and until
    an open WebSocket of a queued task says `workers_online: 0` (what the page shows)."""
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner=owner)  # queued for ever: never sent to the broker
    async with connect_ws(base_url, task_id, cookie) as ws:
        first = json.loads(await ws.recv())
        if first["workers_online"] < 1:
            raise RuntimeError(f"the page does not count the worker: {first}")
        worker.signal(signal.SIGKILL)
        killed = time.perf_counter()

        async def counted_gone() -> float:
            while workers_online() > 0:
                await asyncio.sleep(0.02)
            return time.perf_counter() - killed

        async def page_told() -> float:
            async for raw in ws:
                if json.loads(raw)["workers_online"] == 0:
                    return time.perf_counter() - killed
            raise RuntimeError("the WebSocket closed before it reported the lost worker")

        async with asyncio.timeout(timeout):
            counted, told = await asyncio.gather(counted_gone(), page_told())
    return counted, told
