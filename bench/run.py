"""Benchmark the real stack: `python bench/run.py [--quick] [--tasks N] [--json PATH]`.

Starts a private redis-server, Daphne and a Celery worker on free loopback ports,
measures the figures in bench/README.md, prints them as a table, and stops
everything it started, also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from dataclasses import asdict
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script: import the project, not bench/ siblings
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.stack import BenchStack, install_signal_handlers  # noqa: E402
from bench.table import Row, latency_rows, ms, percentile, render  # noqa: E402

FULL = {
    "requests": 200,
    "load_requests": 400,
    "clients": 4,
    "first": 20,
    "tasks": 20,
    "calls": 1_000_000,
    "probes": 100,
    "zcounts": 2000,
    "pings": 3,
    "health": 200,
}
QUICK = {
    "requests": 20,
    "load_requests": 40,
    "clients": 2,
    "first": 5,
    "tasks": 3,
    "calls": 20_000,
    "probes": 10,
    "zcounts": 200,
    "pings": 1,
    "health": 20,
}
STEPS, DELAY, PING_TIMEOUT = 20, 0.01, 1.0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--tasks", type=int, help="short tasks timed end to end")
    parser.add_argument("--requests", type=int, help="sequential POST /tasks/ and GET /health/")
    parser.add_argument("--clients", type=int, help="concurrent clients for POST throughput")
    parser.add_argument("--calls", type=int, help="progress.set() calls in the tight loop")
    parser.add_argument("--json", type=Path, help="also write the rows and machine as JSON")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    args = parser.parse_args(argv)
    sizes = dict(QUICK if args.quick else FULL)
    for name in ("tasks", "clients", "calls"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    if args.requests is not None:
        sizes.update(requests=args.requests, health=args.requests, load_requests=2 * args.requests)
    args.sizes = sizes
    return args


def machine() -> dict[str, Any]:
    """Cores, CPU, OS, Python, Redis and the stack's package versions."""
    from progress.redis_client import get_redis

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in _read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    packages = ("Django", "celery", "channels", "channels-redis", "daphne", "redis")
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_server": get_redis().info("server")["redis_version"],
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "packages": {name: metadata.version(name) for name in packages},
    }


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def without_worker(stack: BenchStack, sizes: dict[str, int]) -> tuple[list[Row], str, str]:
    """POST figures with no worker consuming (tasks pile up, purged afterwards)."""
    from bench import web
    from django_starter.celery import app

    url = stack.base_url
    durations, owner, cookie = asyncio.run(web.post_latency(url, sizes["requests"]))
    rate, loaded = asyncio.run(web.post_throughput(url, sizes["load_requests"], sizes["clients"]))
    first, states = asyncio.run(web.post_to_first_message(url, sizes["first"]))
    app.control.purge()
    rows = [
        *latency_rows(
            "POST /tasks/ latency",
            durations,
            "sequential, one session, no worker yet (queued tasks purged after)",
        ),
        Row(
            "POST /tasks/ throughput",
            rate,
            "req/s",
            f"{sizes['clients']} concurrent sessions, {len(loaded)} requests",
        ),
        Row(
            "POST /tasks/ latency under load p95",
            ms(percentile(loaded, 95)),
            "ms",
            f"p50 {ms(percentile(loaded, 50)):.3g} ms with {sizes['clients']} clients",
        ),
        *latency_rows(
            "POST → first WS message",
            first,
            f"POST, WS handshake, snapshot; first state {'/'.join(sorted(states))}",
        ),
    ]
    return rows, owner, cookie


def with_worker(stack: BenchStack, sizes: dict[str, int], owner: str, cookie: str) -> list[Row]:
    """Task timings, progress.set cost, message latency, /health/, presence checks."""
    from django.conf import settings

    from bench import pipeline, web

    url = stack.base_url
    started = time.perf_counter()
    worker = stack.start_worker()
    boot = time.perf_counter() - started
    asyncio.run(
        pipeline.short_task_timings(
            url, owner=owner, cookie=cookie, count=1, steps=STEPS, delay=DELAY
        )
    )  # warm-up, not shown
    short = asyncio.run(
        pipeline.short_task_timings(
            url, owner=owner, cookie=cookie, count=sizes["tasks"], steps=STEPS, delay=DELAY
        )
    )
    loop = asyncio.run(pipeline.tight_loop(url, owner=owner, cookie=cookie, calls=sizes["calls"]))
    latency = asyncio.run(
        pipeline.message_latency(url, owner=owner, cookie=cookie, count=sizes["probes"])
    )
    health, report = asyncio.run(web.health_latency(url, sizes["health"]))
    presence = pipeline.presence_costs(
        zcounts=sizes["zcounts"], pings=sizes["pings"], ping_timeout=PING_TIMEOUT
    )
    lost, told = asyncio.run(
        pipeline.worker_loss_detection(worker, url, owner=owner, cookie=cookie)
    )

    task = f"long_running_task(steps={STEPS}, delay={DELAY}), WS open before send"
    per_call = loop["seconds"] / loop["calls"]
    interval = settings.PROGRESS_PUBLISH_INTERVAL
    # PENDING + STARTED + SUCCESS, the first set, one per interval, the trailing flush.
    bound = 3 + 1 + int(loop["seconds"] / interval) + 1
    final_ok = loop["final_current"] == loop["calls"] and loop["final_percent"] == 100
    return [
        Row(
            "worker start → counted online",
            boot,
            "s",
            "process boot + first heartbeat (start_worker)",
        ),
        *latency_rows("enqueue → STARTED seen on WS", short["started"], task),
        *latency_rows(
            "enqueue → SUCCESS seen on WS",
            short["success"],
            f"task body sleeps {STEPS * DELAY:.2f} s",
        ),
        Row(
            "progress.set() cost per call",
            per_call * 1e6,
            "µs",
            f"{loop['calls']:,} calls in a real task; empty loop "
            f"{loop['empty_loop_seconds'] / loop['calls'] * 1e9:.0f} ns/iter",
        ),
        Row("tight loop duration", loop["seconds"], "s", "the progress.set() loop alone"),
        Row(
            "tight loop WS messages",
            loop["messages"],
            "msgs",
            f"{loop['progress_messages']} PROGRESS; bound {bound} "
            f"(1 per {interval * 1000:.0f} ms + states)",
        ),
        Row(
            "tight loop snapshot writes",
            loop["writes"],
            "writes",
            "final seq: create + STARTED + PROGRESS + SUCCESS",
        ),
        Row(
            "tight loop final value delivered",
            "yes" if final_ok else "NO",
            "",
            f"SUCCESS at current={loop['final_current']:,}, {loop['final_percent']}%",
        ),
        *latency_rows(
            "WS message latency (set → client)",
            latency,
            "worker progress.set() → Redis → Daphne → client",
        ),
        *latency_rows(
            "GET /health/ latency",
            health,
            f"workers.online={report['workers']['online']}, Flower not running",
        ),
        Row(
            "workers_online() heartbeat ZCOUNT",
            ms(percentile(presence["zcount"], 50)) * 1000,
            "µs",
            f"p50 of {len(presence['zcount'])} calls; counted {presence['online']}",
        ),
        Row(
            "control.ping(timeout=1) per call",
            ms(percentile(presence["ping"], 50)),
            "ms",
            f"p50 of {len(presence['ping'])}; {presence['replies']} reply; waits out the timeout",
        ),
        Row(
            "worker SIGKILL → workers_online 0",
            lost,
            "s",
            f"heartbeat every 0.5 s, WORKER_HEARTBEAT_TTL {settings.WORKER_HEARTBEAT_TTL:g} s",
        ),
        Row(
            "worker SIGKILL → page told (WS)",
            told,
            "s",
            "open WebSocket of a queued task says workers_online 0",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    install_signal_handlers()
    stack = BenchStack(keep_logs=args.keep_logs)
    failed = True
    started = time.perf_counter()
    try:
        stack.start_web()
        info = machine()
        rows, owner, cookie = without_worker(stack, args.sizes)
        rows += with_worker(stack, args.sizes, owner, cookie)
        failed = False
    finally:
        stack.stop(failed=failed)
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    print(f"machine: {info['cores']} cores ({info['cpu']}), {info['os']}")
    print(f"python {info['python']}, redis-server {info['redis_server']}, {packages}")
    print(
        f"load average at start: {info['load_average']}; "
        f"{'quick' if args.quick else 'full'} run took {time.perf_counter() - started:.0f} s"
    )
    print()
    print(render(rows))
    if args.json:
        args.json.write_text(
            json.dumps(
                {"machine": info, "pids": stack.pids, "rows": [asdict(r) for r in rows]},
                indent=2,
                ensure_ascii=False,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
