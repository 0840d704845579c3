"""Benchmark the real stack: `python bench/run.py [--quick] [--tasks N] [--json PATH]`.

Starts a private redis-server, Daphne and Celery workers on free loopback ports,
measures the figures in bench/README.md (the watchers sweep, celery-progress side by
side, throughput against bare Celery, the dev stack's memory), prints them as one
table, writes them as JSON under bench/results/, and stops everything it started,
also on error or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if __name__ == "__main__":  # run as a script: import the project, not bench/ siblings
    sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from bench.cli import parse_args  # noqa: E402
from bench.machine import ensure_bench_requirements, machine  # noqa: E402
from bench.stack import BenchStack, install_signal_handlers, raise_fd_limit  # noqa: E402
from bench.table import Row, latency_rows, ms, percentile, render, step  # noqa: E402

RESULTS = ROOT / "bench" / "results"

SWEEP_DELAY = 0.1
CP_POLL_INTERVAL = 0.5  # celery-progress's JS default pollInterval
STEPS, DELAY, PING_TIMEOUT = 20, 0.01, 1.0


def without_worker(stack: BenchStack, sizes: dict[str, Any]) -> tuple[list[Row], str, str]:
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


def with_worker(
    stack: BenchStack, sizes: dict[str, Any], owner: str, cookie: str
) -> tuple[list[Row], dict[str, Any]]:
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
    ], loop


@contextlib.contextmanager
def profiled(
    args: argparse.Namespace, pid: int, name: str, *, pool: bool = False
) -> Iterator[None]:
    """py-spy on `pid` (and its pool) while the block runs, when --profile is given."""
    from bench import profile

    if not args.profile:
        yield
        return
    raw = args.results_stem.with_name(f"{args.results_stem.name}-{name}.txt")
    with profile.recording(pid, raw, subprocesses=pool):
        yield
    args.profiles.append(profile.summarise(raw))


def watchers(
    args: argparse.Namespace, stack: BenchStack, owner: str, cookie: str
) -> tuple[list[Row], Any]:
    """The watchers sweep on a worker of its own (10 processes: N-on-N tasks run 10 at once)."""
    from bench import sweep
    from bench.watchers import baseline_commands

    sizes = args.sizes
    worker = stack.start_named_worker("sweep", concurrency=10, queues="bench-hold")
    assert stack.daphne is not None
    baseline = baseline_commands(sizes["idle_seconds"])
    rows = [
        Row(
            "Redis cmds/s, no socket open",
            baseline,
            "cmd/s",
            "the baseline: workers' heartbeats and polls, Daphne idle",
        )
    ]
    daphne = stack.daphne.pid
    # py-spy on Daphne while the task runs, at 1,000 sockets (the goal's point) and the
    # largest point of one task.
    recorded = {max(p for p in sizes["sweep"] if p[1] == 1), (1000, 1)}

    def profile(point: tuple[int, int]) -> Any:
        """The py-spy recording for this step, when --profile is given."""
        if point not in recorded:
            return None
        return profiled(args, daphne, f"daphne-{point[0]}x{point[1]}")

    more, points = sweep.sweep(
        stack.base_url,
        owner=owner,
        cookie=cookie,
        worker=worker,
        daphne_pid=daphne,
        points=sizes["sweep"],
        steps=sizes["sweep_steps"],
        delay=SWEEP_DELAY,
        many_steps=sizes["sweep_many_steps"],
        idle_seconds=sizes["idle_seconds"],
        profile=profile,
    )
    stack.stop_proc(worker)
    return rows + more, points


def celery_progress(
    args: argparse.Namespace, stack: BenchStack, loop: dict[str, Any], ours: Any
) -> list[Row]:
    """celery-progress 0.5 (polling and WebSocket) and ours, on the seed's task shape."""
    from bench import compare
    from bench.stack import BENCH_SETTINGS

    sizes = args.sizes
    stack.start_named_worker(
        "celery-progress",
        queues=compare.CP_QUEUE,
        include="bench.cp_tasks",
        settings=BENCH_SETTINGS,
    )
    steps = sizes["cp_steps"]
    poll = asyncio.run(
        compare.polling(stack.base_url, steps=steps, delay=SWEEP_DELAY, interval=CP_POLL_INTERVAL)
    )
    ws = asyncio.run(compare.websocket(stack.base_url, steps=steps, delay=SWEEP_DELAY))
    cost_poll = compare.cost(sizes["cp_calls"], websocket=False)
    cost_ws = compare.cost(sizes["cp_calls"], websocket=True)
    return compare.rows(
        poll=poll,
        ws=ws,
        cost_poll=cost_poll,
        cost_ws=cost_ws,
        ours={
            "latencies": ours.latencies,
            "never_shown": ours.never_shown,
            "seconds_per_call": loop["seconds"] / loop["calls"],
            "commands_per_call": max(0, loop["redis_commands"]) / loop["calls"],
        },
        steps=steps,
        delay=SWEEP_DELAY,
        interval=CP_POLL_INTERVAL,
    )


def throughput(args: argparse.Namespace, stack: BenchStack, owner: str) -> list[Row]:
    """Bare Celery vs tracked vs untracked no-op tasks, alternating rounds."""
    from bench import throughput as thr

    bare = stack.start_bare_worker("bare", queues="bench-throughput-idle", config=thr.bare_config())
    project = stack.start_plain_worker("project", queues="bench-throughput-idle")

    def profile(kind: str, worker: Any) -> Any:
        """The py-spy recording for this step, when --profile is given."""
        return profiled(args, worker.pid, f"worker-{kind}", pool=True)

    rates = thr.run(
        bare=bare,
        project=project,
        owner=owner,
        count=args.sizes["throughput_tasks"],
        rounds=args.sizes["throughput_rounds"],
        profile=profile,
    )
    stack.stop_proc(bare)
    stack.stop_proc(project)
    return thr.rows(rates, count=args.sizes["throughput_tasks"])


async def one_session(stack: BenchStack) -> tuple[str, str]:
    """A browser session that owns one (purged) task: its owner id and cookie."""
    from bench import web
    from django_starter.celery import app

    _, owner, cookie = await web.post_latency(stack.base_url, 1)
    app.control.purge()
    return owner, cookie


def head() -> str:
    """The commit checked out (the working tree may hold more: it is shared)."""
    import subprocess

    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip()


def main(argv: list[str] | None = None) -> int:
    """Run the sections asked for, print the table, write the JSON."""
    args = parse_args(argv, __doc__.splitlines()[0])
    ensure_bench_requirements()
    install_signal_handlers()
    fd_limit = raise_fd_limit()
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    args.results_stem = RESULTS / f"{stamp}{'-quick' if args.quick else ''}"
    args.profiles = []
    stack = BenchStack(keep_logs=args.keep_logs)
    failed = True
    started = time.perf_counter()
    only = args.only
    rows: list[Row] = []
    try:
        stack.start_web()
        info = machine()
        info["fd_limit"] = fd_limit
        if "base" in only:
            step("POST figures, no worker")
            rows, owner, cookie = without_worker(stack, args.sizes)
            step("task timings, tight loop, latency, presence")
            more, loop = with_worker(stack, args.sizes, owner, cookie)
            rows += more
        else:
            owner, cookie = asyncio.run(one_session(stack))
        if "sweep" in only:
            step("watchers sweep")
            more, points = watchers(args, stack, owner, cookie)
            rows += more
        if "celery-progress" in only:
            step("celery-progress side by side")
            rows += celery_progress(args, stack, loop, points[0])
        if "throughput" in only:
            step("throughput: bare, tracked, untracked")
            rows += throughput(args, stack, owner)
        from bench import goals  # Django is set up by now

        rows += goals.run_sections(
            stack,
            args.sizes,
            only,
            owner=owner,
            cookie=cookie,
            profile=functools.partial(profiled, args),
        )
        failed = False
    finally:
        stack.stop(failed=failed)
    if args.sizes["dev_stack"] and "dev-stack" in only:
        from bench import devstack

        step("dev stack from a fresh clone")
        rows += devstack.rows(devstack.measure())
    info["head"] = head()
    info["load_average_end"] = " ".join(f"{value:.2f}" for value in os.getloadavg())
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    print(f"machine: {info['cores']} cores ({info['cpu']}), {info['os']}")
    print(f"python {info['python']}, redis-server {info['redis_server']}, {packages}")
    print(f"HEAD {info['head']} (the shared working tree may hold uncommitted edits)")
    print(
        f"load average at start: {info['load_average']}, at end: {info['load_average_end']}; "
        f"{'quick' if args.quick else 'full'} run took {time.perf_counter() - started:.0f} s"
    )
    print()
    print(render(rows))
    output = args.json or args.results_stem.with_suffix(".json")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(
        json.dumps(
            {
                "machine": info,
                "sizes": args.sizes,
                "pids": stack.pids,
                "rows": [asdict(r) for r in rows],
                "profiles": args.profiles,
            },
            indent=2,
            ensure_ascii=False,
        )
    )
    print(f"\nJSON: {output}")
    if args.profiles:
        summary = args.results_stem.with_name(f"{args.results_stem.name}-profiles.txt")
        summary.write_text("\n".join(args.profiles))
        print(f"profiles: {summary}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
