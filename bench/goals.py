"""Issue 17's sections: the servers side by side, capacity on two processes, throughput
end to end, and /metrics' socket-delay histogram beside the bench's own figures.

`servers`: one task watched by 1,000 then 2,000 sockets on each of Daphne, Uvicorn (as
scripts/stack.py runs it) and Granian, one process each: web CPU per socket message,
latency, skipped values, and /metrics scraped around each point. `capacity`: 4,000
sockets on two processes sharing one listening socket (fd 0), three runs on Daphne and
one on Uvicorn. `e2e`: bench/e2e.py.
"""

from __future__ import annotations

import math
import socket
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .fanout import Fan, run_point
from .servers import SERVERS, WebServers
from .stack import BenchStack
from .table import Row, percentile, step

CPU_GOAL_US = 25.0  # on Uvicorn, at 1,000 watchers
P99_GOAL_MS = {"servers": 150.0, "capacity": 300.0}


def _stop(servers: WebServers) -> None:
    """Stop the servers and drop their counts from /metrics' sum (they would linger 15 s)."""
    from diagnostics.web_stats import WEB_KEY
    from live_progress.store.client import get_redis

    pids = servers.pids  # Granian's worker too, while it lives
    servers.stop()
    host = socket.gethostname()
    get_redis().hdel(WEB_KEY, *[f"{host}:{pid}" for pid in pids] or ["-"])


def _named(
    profile: Callable[[int, str], AbstractContextManager[None]], name: str
) -> Callable[[int], AbstractContextManager[None]]:
    return lambda pid: profile(pid, name)


def _verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def fan_rows(
    name: str, fan: Fan, *, goal_p99: float | None = None, metrics: bool = True
) -> list[Row]:
    """CPU per message, latency, skipped, missed and the histogram's view of one point."""
    lat = fan.latencies or [math.nan]
    p50, p99 = percentile(lat, 50) * 1000, percentile(lat, 99) * 1000
    skipped_pct = 100 * fan.skipped / fan.published if fan.published else 0.0
    lag = percentile(fan.client_lag or [0.0], 99) * 1000
    spread = percentile(fan.spreads or [0.0], 99) * 1000
    first = percentile(fan.firsts or [0.0], 99) * 1000
    p99_note = f"; goal ≤ {goal_p99:g} ms: {_verdict(p99 <= goal_p99)}" if goal_p99 else ""
    shares = "/".join(f"{n:,}" for n in fan.per_process)
    rows = [
        Row(
            f"{name}: web CPU per socket message",
            fan.cpu_per_message,
            "µs",
            f"{fan.web_cpu:.2f} s CPU of {fan.processes} web process(es) / {fan.messages:,} "
            f"messages received, {fan.running_seconds:.1f} s window after all sockets were up "
            f"({fan.daphne_cpu_running:.0f}% of a core)",
        ),
        Row(
            f"{name}: latency p50",
            p50,
            "ms",
            f"updated_at → socket, n={len(fan.latencies):,}; first socket p99 {first:.3g} ms, "
            f"fan-out spread p99 {spread:.3g} ms",
        ),
        Row(
            f"{name}: latency p99",
            p99,
            "ms",
            f"bench clients {fan.client_cpu_running:.0f}% of a core, loop lag p99 {lag:.3g} ms; "
            f"machine {fan.machine_cpu:.0f}% busy, load {fan.load:.1f}{p99_note}",
        ),
        Row(
            f"{name}: values skipped",
            fan.skipped,
            "values",
            f"{skipped_pct:.1f}% of {fan.published:,} seq steps (latest wins)",
        ),
        Row(
            f"{name}: missed terminal",
            fan.missed_terminal,
            "sockets",
            f"{fan.refused} refused at the handshake; all open in {fan.connect_seconds:.1f} s; "
            f"the server closed {fan.server_closed:,} first (close codes "
            f"{', '.join(f'{c} x{n:,}' for c, n in sorted(fan.close_codes.items()))})"
            + (f"; accepted per process {shares}" if fan.processes > 1 else ""),
        ),
    ]
    if not metrics:
        return rows
    if fan.histogram is not None and fan.histogram.count:
        hist = fan.histogram
        rows += [
            Row(
                f"{name}: /metrics socket delay p50",
                hist.quantile(0.5) * 1000,
                "ms",
                f"histogram_quantile of the point's buckets, n={hist.count:,.0f}; bench p50 "
                f"{p50:.3g} ms",
            ),
            Row(
                f"{name}: /metrics socket delay p99",
                hist.quantile(0.99) * 1000,
                "ms",
                f"bench p99 {p99:.3g} ms; mean {1000 * hist.total / hist.count:.3g} ms",
            ),
        ]
    elif fan.histogram is not None or fan.metric_present:
        rows.append(Row(f"{name}: /metrics socket delay", "empty", "", "no count in the window"))
    else:
        rows.append(
            Row(f"{name}: /metrics socket delay", "absent", "", "starter_socket_delay_seconds")
        )
    return rows


def servers_section(
    stack: BenchStack,
    sizes: dict[str, Any],
    *,
    owner: str,
    cookie: str,
    worker: Any,
    profile: Callable[[int, str], AbstractContextManager[None]] | None = None,
) -> list[Row]:
    """Each server in turn, one process, at each of sizes['servers_points'] sockets."""
    rows: list[Row] = []
    for server in SERVERS:
        servers = WebServers(stack, server)
        try:
            for count in sizes["servers_points"]:
                fan = run_point(
                    servers,
                    owner=owner,
                    cookie=cookie,
                    worker=worker,
                    sockets=count,
                    steps=sizes["sweep_steps"],
                    delay=sizes["servers_delay"],
                    clients=1 if count <= 1000 else 2,
                    metrics=True,
                    profile=(
                        _named(profile, f"{server}-{count}")
                        if profile and count == sizes["servers_points"][0]
                        else None
                    ),
                )
                name = f"{server} {servers.version()} {count:,} watchers"
                rows += fan_rows(name, fan)
                if count >= 2000:
                    p99 = percentile(fan.latencies or [math.nan], 99) * 1000
                    ok = p99 <= P99_GOAL_MS["servers"] and not fan.skipped
                    rows.append(
                        Row(
                            f"goal: {server} {count:,} watchers p99, skipped",
                            p99,
                            "ms",
                            f"{fan.skipped:,} values skipped; goal p99 ≤ "
                            f"{P99_GOAL_MS['servers']:g} ms and 0 skipped: {_verdict(ok)}",
                        )
                    )
                if server == "uvicorn" and count == 1000:
                    ok = fan.cpu_per_message <= CPU_GOAL_US
                    rows.append(
                        Row(
                            "goal: uvicorn µs of web CPU per socket message at 1,000",
                            fan.cpu_per_message,
                            "µs",
                            f"goal ≤ {CPU_GOAL_US:g}: {_verdict(ok)}",
                        )
                    )
            rows.append(Row(f"{server} command", "", "", servers.command))
        finally:
            _stop(servers)
    return rows


def capacity_section(
    stack: BenchStack, sizes: dict[str, Any], *, owner: str, cookie: str, worker: Any
) -> list[Row]:
    """sizes['capacity_sockets'] sockets on 2 processes sharing fd 0; runs per server."""
    rows: list[Row] = []
    count = sizes["capacity_sockets"]
    for server, runs in sizes["capacity_runs"]:
        servers = WebServers(stack, server, count=2)
        missed, refused, p99s = [], [], []
        try:
            for run in range(1, runs + 1):
                fan = run_point(
                    servers,
                    owner=owner,
                    cookie=cookie,
                    worker=worker,
                    sockets=count,
                    steps=sizes["sweep_steps"],
                    delay=sizes["servers_delay"],
                    clients=2,
                    metrics=False,
                )
                name = f"capacity {server} x2 {count:,} watchers run {run}"
                rows += fan_rows(name, fan, goal_p99=P99_GOAL_MS["capacity"], metrics=False)
                missed.append(fan.missed_terminal)
                refused.append(fan.refused)
                p99s.append(percentile(fan.latencies or [math.nan], 99) * 1000)
        finally:
            _stop(servers)
        ok = not any(missed) and not any(refused) and max(p99s) <= P99_GOAL_MS["capacity"]
        rows.append(
            Row(
                f"capacity {server} x2 {count:,}: missed terminal, {runs} runs",
                sum(missed),
                "sockets",
                f"per run {missed}, refused {refused}, p99 "
                f"{', '.join(f'{p:.0f}' for p in p99s)} ms; goal 0 missed in every run, all "
                f"accepted, p99 ≤ {P99_GOAL_MS['capacity']:g} ms: {_verdict(ok)}",
            )
        )
    return rows


def e2e_section(stack: BenchStack, sizes: dict[str, Any]) -> list[Row]:
    """Throughput with the enqueueing timed: bare apply_async against services.start."""
    from . import e2e
    from .throughput import bare_config

    bare = stack.start_bare_worker("e2e-bare", queues=e2e.queue_of("bare"), config=bare_config())
    project = stack.start_plain_worker("e2e-project", queues=e2e.queue_of("owners"))
    try:
        done = e2e.run(
            bare=bare, project=project, count=sizes["e2e_tasks"], rounds=sizes["e2e_rounds"]
        )
    finally:
        stack.stop_proc(bare)
        stack.stop_proc(project)
    return e2e.rows(done, count=sizes["e2e_tasks"])


def run_sections(
    stack: BenchStack,
    sizes: dict[str, Any],
    only: set[str],
    *,
    owner: str,
    cookie: str,
    profile: Callable[[int, str], AbstractContextManager[None]] | None = None,
) -> list[Row]:
    """The sections of issue 17 that `only` names, in order, each with its own workers."""
    rows: list[Row] = []
    if only & {"servers", "capacity"}:
        worker = stack.start_named_worker("fanout", queues="bench-hold")
        try:
            if "servers" in only:
                step("servers side by side: daphne, uvicorn, granian")
                rows += servers_section(
                    stack, sizes, owner=owner, cookie=cookie, worker=worker, profile=profile
                )
            if "capacity" in only and sizes["capacity_runs"]:
                step("capacity: two processes on one socket")
                rows += capacity_section(stack, sizes, owner=owner, cookie=cookie, worker=worker)
        finally:
            stack.stop_proc(worker)
    if "e2e" in only:
        step("throughput end to end: start() and apply_async in the loop")
        rows += e2e_section(stack, sizes)
    return rows
