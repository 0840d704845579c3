"""One task watched by many sockets, on any server, from one or more client processes.

The task (long_running_task, 100 steps x 0.1 s in the full run) is started with
`services.start` on a queue the worker does not consume yet; the client processes
(bench/fleet.py) open every socket; once every socket has its PENDING snapshot the
worker is told to consume, and the window runs until the last socket is closed. The web
processes' CPU (utime + stime) over that window is divided by the socket messages the
clients received in it. Latency, skipped values and missed terminals are computed as
in the sweep (bench/watchers.py's `analyse`).
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import redis

from django_starter.celery import app as celery_app
from live_progress.web import services

from . import fleet, scrape
from .servers import WebServers, cpu_seconds
from .watchers import Point, Socket, analyse

FANOUT_QUEUE = "bench-fanout"


@dataclass
class Fan(Point):
    """A point of one server: the sweep's figures plus CPU per message and the histogram."""

    server: str = ""
    processes: int = 1
    runs: int = 1
    messages: int = 0  # received by the clients in the running window
    web_cpu: float = 0.0  # seconds of the web processes' CPU in that window
    per_process: list[int] = field(default_factory=list)  # sockets each process accepted
    server_closed: int = 0  # sockets whose close the server began (after the terminal state)
    close_codes: dict[str, int] = field(default_factory=dict)
    histogram: scrape.Histogram | None = None
    metric_present: bool = False

    @property
    def cpu_per_message(self) -> float:
        """µs of web CPU per socket message."""
        return 1e6 * self.web_cpu / self.messages if self.messages else float("nan")


def _lines(procs: list[subprocess.Popen[str]], word: str, deadline: float) -> None:
    """Until every client printed `word` (or exited, or the deadline passed)."""
    waiting = {proc.stdout: proc for proc in procs if proc.stdout is not None}
    while waiting and time.monotonic() < deadline:
        ready, _, _ = select.select(list(waiting), [], [], 0.5)
        for stream in ready:
            line = stream.readline()
            if not line or line.split()[0] in (word, "DONE"):
                del waiting[stream]


def established(pids: list[int], port: int) -> list[int]:
    """Connections each of these processes accepted on `port` and holds open."""
    counts = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            conns = psutil.Process(pid).net_connections(kind="tcp")
            counts.append(
                sum(c.status == psutil.CONN_ESTABLISHED and c.laddr.port == port for c in conns)
            )
    return counts


def run_point(
    servers: WebServers,
    *,
    owner: str,
    cookie: str,
    worker: Any,
    sockets: int,
    steps: int,
    delay: float,
    clients: int,
    metrics: bool,
    profile: Callable[[int], AbstractContextManager[None]] | None = None,
) -> Fan:
    """`sockets` sockets on one held task through `servers`; released once all are open."""
    from django_starter.tasks import long_running_task

    point = Fan(sockets=sockets, tasks=1, server=servers.server, processes=len(servers.procs))
    timeout = 90 + sockets / 50 + steps * delay * 4
    signature = long_running_task.s(steps=steps, delay=delay).set(queue=FANOUT_QUEUE)
    task_id = str(services.start(signature, owner=owner, limited=False)["task_id"])
    before = scrape.scrape(servers.base_url) if metrics else None
    point.metric_present = before is not None
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-", dir=servers.stack.dir))
    spec = {"base_url": servers.base_url, "cookie": cookie, "timeout": timeout}
    shares = [sockets // clients + (i < sockets % clients) for i in range(clients)]
    procs = [
        fleet.start(
            {**spec, "task_ids": [task_id] * share, "output": str(work / f"{i}.json")},
            work / f"{i}-spec.json",
            work / f"{i}.log",
        )
        for i, share in enumerate(shares)
        if share
    ]
    client = redis.Redis.from_url(celery_app.conf.broker_url)
    try:
        started = time.perf_counter()
        _lines(procs, "OPEN", time.monotonic() + timeout)
        point.connect_seconds = time.perf_counter() - started
        point.per_process = established(servers.pids[: len(servers.procs)], servers.port)
        time.sleep(1.0)  # the hub's first live-field round passes
        pids = servers.pids
        released_at = time.time()
        cpu = cpu_seconds(pids)
        commands = int(client.info("stats")["total_commands_processed"])
        psutil.cpu_percent()
        run_started = time.perf_counter()
        # py-spy on the process that runs the app (Granian's worker: the last pid).
        with profile(pids[-1]) if profile else nullcontext():
            celery_app.control.add_consumer(
                FANOUT_QUEUE, destination=[worker.node], reply=True, timeout=5
            )
            for proc in procs:
                proc.wait(timeout=max(10.0, timeout + 20 - (time.perf_counter() - started)))
            point.running_seconds = time.perf_counter() - run_started
        point.web_cpu = cpu_seconds(pids) - cpu
        point.running_commands = (
            int(client.info("stats")["total_commands_processed"]) - commands
        ) / point.running_seconds
        point.daphne_cpu_running = 100 * point.web_cpu / point.running_seconds
        point.machine_cpu = psutil.cpu_percent()
        point.load = os.getloadavg()[0]
        point.daphne_rss = sum(
            psutil.Process(pid).memory_info().rss for pid in pids if psutil.pid_exists(pid)
        )
    finally:
        for proc in procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)
        celery_app.control.cancel_consumer(
            FANOUT_QUEUE, destination=[worker.node], reply=True, timeout=5
        )
        client.close()
    socks: list[Socket] = []
    for index in range(len(procs)):
        out = work / f"{index}.json"
        data = json.loads(out.read_text()) if out.exists() else {"sockets": [], "lags": []}
        point.client_lag += data["lags"]
        point.client_cpu_running += 100 * data.get("cpu_read", 0.0) / point.running_seconds
        for raw in data["sockets"]:
            point.server_closed += bool(raw.get("server_closed"))
            code = str(raw.get("close_code"))
            point.close_codes[code] = point.close_codes.get(code, 0) + 1
            seen = [(at, seq, state, updated) for at, seq, state, updated in raw["seen"]]
            socks.append(Socket(raw["task_id"], seen=seen, refused=raw["refused"]))
    lost = sockets - len(socks)  # a client that never wrote its results
    point.refused = sum(1 for sock in socks if sock.refused)
    point.messages = sum(1 for sock in socks for at, *_ in sock.seen if at >= released_at)
    analyse(point, socks, released_at=released_at, steps=steps)
    point.missed_terminal += lost
    point.refused += lost
    if metrics:
        point.histogram = scrape.after(servers.base_url, before, point.messages)
        point.metric_present = point.histogram is not None
    return point
