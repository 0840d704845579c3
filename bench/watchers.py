"""The watchers sweep: N WebSockets on one task (or one on each of N tasks), in one client.

For each point the tasks are started with `services.start` on a queue the sweep worker
does not consume yet, every socket is opened and gets the PENDING snapshot, Redis's
command rate is read while they sit idle, then the worker is told to consume the
queue and every socket is read until the server closes it after the terminal state.

Latency is the receive time (wall clock) minus the message's `updated_at` (written by
the worker when it stored the change; the same clock). Each socket's first message
(the PENDING snapshot) and a repeated `seq` (a live-field refresh) are not counted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psutil
import redis
import websockets

from django_starter.celery import app as celery_app
from live_progress.store.snapshot import TERMINAL_STATES
from live_progress.web import services

from .web import connect_ws

SWEEP_QUEUE = "bench-sweep"
CONNECT_AT_ONCE = 64


@dataclass
class Socket:
    """What one WebSocket saw: (receive wall time, seq, state, updated_at) per message."""

    task_id: str
    seen: list[tuple[float, int, str, float | None]] = field(default_factory=list)
    currents: set[int] = field(default_factory=set)
    refused: str = ""
    opened: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def terminal(self) -> bool:
        """Whether the last message was a terminal state."""
        return bool(self.seen) and self.seen[-1][2] in TERMINAL_STATES


@dataclass
class Point:
    """One point of the sweep and what it measured."""

    sockets: int
    tasks: int
    latencies: list[float] = field(default_factory=list)
    skipped: int = 0
    published: int = 0
    missed_terminal: int = 0
    refused: int = 0
    idle_commands: float = 0.0
    running_commands: float = 0.0
    daphne_cpu_idle: float = 0.0
    daphne_cpu_running: float = 0.0
    client_cpu_running: float = 0.0
    daphne_rss: int = 0
    running_seconds: float = 0.0
    connect_seconds: float = 0.0
    never_shown: int = 0  # of the first socket: steps whose value it never got
    spreads: list[float] = field(default_factory=list)  # per change: last socket - first
    firsts: list[float] = field(default_factory=list)  # per change: updated_at → first socket
    load: float = 0.0  # the machine's 1-minute load average at the end
    machine_cpu: float = 0.0  # all cores busy, percent, while the task ran
    client_lag: list[float] = field(default_factory=list)  # the bench client's loop lag

    @property
    def label(self) -> str:
        """The point as the rows name it."""
        if self.tasks == 1:
            return f"{self.sockets:,} on 1 task"
        return f"{self.sockets:,} on {self.tasks:,} tasks"


def iso_seconds(value: Any) -> float | None:
    """An ISO time as epoch seconds (None stays None)."""
    return datetime.fromisoformat(value).timestamp() if isinstance(value, str) else None


async def watch(base_url: str, sock: Socket, cookie: str, gate: asyncio.Semaphore) -> None:
    """Open the socket (at most CONNECT_AT_ONCE handshakes at a time), read until closed."""
    try:
        async with gate:
            ws = await connect_ws(base_url, sock.task_id, cookie)
    except Exception as error:  # refused at the handshake
        sock.refused = repr(error)
        sock.opened.set()
        return
    try:
        async for raw in ws:
            message = json.loads(raw)
            sock.seen.append(
                (time.time(), message["seq"], message["state"], iso_seconds(message["updated_at"]))
            )
            if message["state"] != "PENDING" and message["current"] is not None:
                sock.currents.add(int(message["current"]))
            sock.opened.set()
    except websockets.ConnectionClosed:
        pass
    finally:
        if not sock.seen:
            sock.refused = f"closed {ws.close_code} before any message"
        sock.opened.set()
        await ws.close()


def commands(client: redis.Redis) -> int:
    """INFO's total_commands_processed so far."""
    return int(client.info("stats")["total_commands_processed"])


async def command_rate(client: redis.Redis, seconds: float) -> float:
    """Redis commands/s over `seconds` (less the INFO call itself)."""
    before, started = commands(client), time.perf_counter()
    await asyncio.sleep(seconds)
    return (commands(client) - before - 1) / (time.perf_counter() - started)


def baseline_commands(seconds: float) -> float:
    """Redis commands/s with no socket open: the workers' and Daphne's own traffic."""
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    try:
        return asyncio.run(command_rate(client, seconds))
    finally:
        client.close()


async def run_point(
    base_url: str,
    *,
    owner: str,
    cookie: str,
    worker: Any,
    daphne_pid: int,
    sockets: int,
    tasks: int,
    steps: int,
    delay: float,
    idle_seconds: float,
    timeout: float,
    profile: Callable[[], AbstractContextManager[None]] | None = None,
) -> Point:
    """Start `tasks` held tasks, open `sockets` sockets spread over them, idle, run, read."""
    from django_starter.tasks import long_running_task

    point = Point(sockets=sockets, tasks=tasks)
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    daphne = psutil.Process(daphne_pid)
    me = psutil.Process()
    signature = long_running_task.s(steps=steps, delay=delay).set(queue=SWEEP_QUEUE)
    task_ids = [
        str(
            (await asyncio.to_thread(services.start, signature, owner=owner, limited=False))[
                "task_id"
            ]
        )
        for _ in range(tasks)
    ]
    socks = [Socket(task_ids[i % tasks]) for i in range(sockets)]
    gate = asyncio.Semaphore(CONNECT_AT_ONCE)
    started = time.perf_counter()
    readers = [asyncio.create_task(watch(base_url, sock, cookie, gate)) for sock in socks]
    try:
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(sock.opened.wait() for sock in socks))
        point.connect_seconds = time.perf_counter() - started
        point.refused = sum(1 for sock in socks if sock.refused)

        await asyncio.sleep(1.0)  # let the hub's first live-field round pass
        cpu = daphne.cpu_times()
        idle_started = time.perf_counter()
        point.idle_commands = await command_rate(client, idle_seconds)
        point.daphne_cpu_idle = cpu_share(daphne, cpu, time.perf_counter() - idle_started)
        point.daphne_rss = daphne.memory_info().rss

        released_at = time.time()
        before, cpu, mine = commands(client), daphne.cpu_times(), me.cpu_times()
        psutil.cpu_percent()  # starts the machine-wide measure
        lagging = asyncio.create_task(loop_lag(point.client_lag))
        run_started = time.perf_counter()
        with profile() if profile else contextlib.nullcontext():  # the running window only
            await asyncio.to_thread(
                celery_app.control.add_consumer,
                SWEEP_QUEUE,
                destination=[worker.node],
                reply=True,
                timeout=5,
            )
            async with asyncio.timeout(timeout):
                await asyncio.gather(*readers)
            point.running_seconds = time.perf_counter() - run_started
        point.running_commands = (commands(client) - before - 1) / point.running_seconds
        point.daphne_cpu_running = cpu_share(daphne, cpu, point.running_seconds)
        point.client_cpu_running = cpu_share(me, mine, point.running_seconds)
        point.daphne_rss = max(point.daphne_rss, daphne.memory_info().rss)
        point.load = os.getloadavg()[0]
        point.machine_cpu = psutil.cpu_percent()
        lagging.cancel()
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        await asyncio.to_thread(
            celery_app.control.cancel_consumer,
            SWEEP_QUEUE,
            destination=[worker.node],
            reply=True,
            timeout=5,
        )
        client.close()

    analyse(point, socks, released_at=released_at, steps=steps)
    return point


def analyse(point: Point, socks: list[Socket], *, released_at: float, steps: int) -> None:
    """Latency, skipped values, missed terminals, first socket and spread, into `point`."""
    final_seq = {sock.task_id: sock.seen[-1][1] for sock in socks if sock.terminal}
    received: dict[tuple[str, int], list[float]] = {}
    for sock in socks:
        if sock.refused:
            continue
        if not sock.terminal:
            point.missed_terminal += 1
        seqs = sorted({seq for _, seq, _, _ in sock.seen})
        if len(seqs) < 1:
            continue
        last = final_seq.get(sock.task_id, seqs[-1])
        point.published += last - seqs[0]
        point.skipped += (last - seqs[0]) - (len(seqs) - 1)
        counted = {seqs[0]}
        for at, seq, _state, updated in sock.seen:
            if seq in counted or updated is None or updated < released_at - 1:
                continue
            counted.add(seq)
            point.latencies.append(at - updated)
            received.setdefault((sock.task_id, seq), [updated]).append(at)
    point.missed_terminal += point.refused
    point.spreads = [max(t[1:]) - min(t[1:]) for t in received.values() if len(t) > 2]
    point.firsts = [min(t[1:]) - t[0] for t in received.values()]
    first = next((sock for sock in socks if not sock.refused), None)
    point.never_shown = steps - len((first.currents if first else set()) & set(range(1, steps + 1)))


async def loop_lag(lags: list[float], every: float = 0.01) -> None:
    """How late the bench client's own event loop wakes up (it reads every socket)."""
    while True:
        started = time.perf_counter()
        await asyncio.sleep(every)
        lags.append(time.perf_counter() - started - every)


def cpu_share(process: psutil.Process, before: Any, seconds: float) -> float:
    """Percent of one core `process` used since `before` (its cpu_times)."""
    now = process.cpu_times()
    used = (now.user - before.user) + (now.system - before.system)
    return 100 * used / seconds if seconds > 0 else 0.0
