"""Figures that need the worker: task timings, progress.set cost, message latency, presence.

Every task is started the way an app starts one, `progress.services.start` (the code
behind `progress.start` and POST /tasks/), and watched on its WebSocket through Daphne.
"""

from __future__ import annotations

import asyncio
import json
import signal
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from celery import signals
from celery.canvas import Signature

from django_starter.celery import app as celery_app
from live_progress.store.snapshot import PROGRESS, STARTED, SUCCESS
from live_progress.store.workers import workers_online
from live_progress.tracking import tracking
from live_progress.web import services

from .web import connect_ws

# A queue no worker consumes: a task sent there waits for ever (a queued task's page).
IDLE_QUEUE = "bench-idle"


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
    if not seen.messages or seen.messages[-1]["state"] != SUCCESS:
        last = seen.messages[-1] if seen.messages else None
        raise RuntimeError(f"task did not reach SUCCESS; last message: {last}")
    return seen


@asynccontextmanager
async def start_watched(
    base_url: str, signature: Signature, *, owner: str, cookie: str
) -> AsyncIterator[tuple[Any, float]]:
    """`services.start(signature)` with the task's WebSocket open before its message is sent.

    The bench's session owns hundreds of tasks that stay PENDING (POSTed with no worker,
    then purged), so its starts are not limited, as for the bench's Daphne.

    services.start records the snapshot, then sends the message; Celery's
    before_task_publish, fired in between, holds the send until the client has the
    PENDING snapshot, so it sees every change. Yields the socket and when the send was
    let go (perf_counter).
    """
    loop = asyncio.get_running_loop()
    announced: asyncio.Future[str] = loop.create_future()
    release = threading.Event()
    held = threading.Lock()

    def hold(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if not headers or tracking(headers) is None or not held.acquire(blocking=False):
            return  # not ours, or not the first message
        loop.call_soon_threadsafe(announced.set_result, str(headers["id"]))
        release.wait(30)

    signals.before_task_publish.connect(hold, weak=False)
    try:
        starting = asyncio.ensure_future(
            asyncio.to_thread(services.start, signature, owner=owner, limited=False)
        )
        waiting: set[asyncio.Future[Any]] = {announced, starting}
        await asyncio.wait(waiting, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if not announced.done():
            await starting  # services.start failed before sending: raise its error
            raise RuntimeError("services.start sent no tracked message")
        async with connect_ws(base_url, announced.result(), cookie) as ws:
            first = json.loads(await ws.recv())
            if first["state"] != "PENDING":
                raise RuntimeError(f"the task changed before it was sent: {first}")
            sent = time.perf_counter()
            release.set()
            await starting
            yield ws, sent
    finally:
        release.set()
        signals.before_task_publish.disconnect(hold)


async def short_task_timings(
    base_url: str, *, owner: str, cookie: str, count: int, steps: int, delay: float
) -> dict[str, list[float]]:
    """A short long_running_task watched from before it is sent: STARTED and SUCCESS times."""
    from django_starter.tasks import long_running_task

    times: dict[str, list[float]] = {"started": [], "success": []}
    for _ in range(count):
        signature = long_running_task.s(steps=steps, delay=delay)
        async with start_watched(base_url, signature, owner=owner, cookie=cookie) as (ws, sent):
            seen = await follow(ws, timeout=60)
        began = seen.first_time(STARTED, PROGRESS, SUCCESS)
        done = seen.first_time(SUCCESS)
        assert began is not None and done is not None
        times["started"].append(began - sent)
        times["success"].append(done - sent)
    return times


async def tight_loop(base_url: str, *, owner: str, cookie: str, calls: int) -> dict[str, Any]:
    """10^6 progress.set calls in a real task, watched by a WebSocket client from the start."""
    from bench.tasks import tight_loop as task

    signature = task.s(calls=calls)
    async with start_watched(base_url, signature, owner=owner, cookie=cookie) as (ws, _):
        seen = await follow(ws, timeout=300)
    final = seen.messages[-1]
    progress = [m for m in seen.messages if m["state"] == PROGRESS]
    return {
        **final["result"],
        "messages": len(seen.messages) + 1,  # + the PENDING snapshot read before the send
        "progress_messages": len(progress),
        "writes": final["seq"],
        "last_progress": progress[-1]["current"] if progress else None,
        "final_current": final["current"],
        "final_percent": final["percent"],
    }


async def message_latency(base_url: str, *, owner: str, cookie: str, count: int) -> list[float]:
    """Worker's progress.set (wall time in the message) → WebSocket client receive."""
    from bench.tasks import latency_probe

    signature = latency_probe.s(count=count)
    async with start_watched(base_url, signature, owner=owner, cookie=cookie) as (ws, _):
        seen = await follow(ws, timeout=120)
    return [
        at - float(m["message"])
        for m, at in zip(seen.messages, seen.wall_at, strict=True)
        if m["state"] == PROGRESS
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
    from django_starter.tasks import long_running_task

    queued = await asyncio.to_thread(  # on a queue no worker consumes: queued for ever
        services.start, long_running_task.s().set(queue=IDLE_QUEUE), owner=owner, limited=False
    )
    async with connect_ws(base_url, queued["task_id"], cookie) as ws:
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
