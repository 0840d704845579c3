"""The benchmark's command line: its sections, and the sizes of a full and a quick run."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
    # (sockets, tasks) per point of the watchers sweep
    "sweep": [(1, 1), (100, 1), (1000, 1), (2000, 1), (100, 100)],
    "sweep_steps": 100,  # the seed's shape: 100 steps x 0.1 s
    "sweep_many_steps": 20,  # the N-on-N tasks: 20 steps x 0.1 s (10 run at once)
    "idle_seconds": 3,
    "cp_steps": 100,
    "cp_calls": 200,
    "throughput_tasks": 2000,
    "throughput_rounds": 5,
    "servers_points": [1000, 2000],  # sockets on one task, per server
    "servers_delay": 0.1,  # with sweep_steps: 100 steps x 0.1 s, 10 messages/s a socket
    "capacity_sockets": 4000,
    "capacity_runs": [("daphne", 3), ("uvicorn", 1)],
    "e2e_tasks": 2000,
    "e2e_rounds": 5,
    "dev_stack": 1,
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
    "sweep": [(1, 1), (10, 10)],  # fan-out on one task: the servers section
    "sweep_steps": 20,
    "sweep_many_steps": 10,
    "idle_seconds": 1,
    "cp_steps": 20,
    "cp_calls": 20,
    "throughput_tasks": 100,
    "throughput_rounds": 1,
    "servers_points": [20],
    "servers_delay": 0.05,
    "capacity_sockets": 20,
    "capacity_runs": [("daphne", 1)],
    "e2e_tasks": 50,
    "e2e_rounds": 1,
    "dev_stack": 0,
}
SECTIONS = (
    "base",
    "sweep",
    "celery-progress",
    "throughput",
    "servers",
    "capacity",
    "e2e",
    "dev-stack",
)


def parse_args(argv: list[str] | None, description: str) -> argparse.Namespace:
    """The arguments, with `sizes` (full or quick, then the options) and `only`."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="tiny sizes (a smoke run)")
    parser.add_argument("--tasks", type=int, help="short tasks timed end to end")
    parser.add_argument("--requests", type=int, help="sequential POST /tasks/ and GET /health/")
    parser.add_argument("--clients", type=int, help="concurrent clients for POST throughput")
    parser.add_argument("--calls", type=int, help="progress.set() calls in the tight loop")
    parser.add_argument(
        "--json", type=Path, help="write the JSON here (default: bench/results/<time>.json)"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs")
    parser.add_argument(
        "--watchers",
        help="sweep points, e.g. 1,100,1000 or 100x100 (sockets x tasks); default by size",
    )
    parser.add_argument(
        "--dev-stack",
        action=argparse.BooleanOptionalAction,
        help="measure ./start_dev.sh from a fresh clone (default: full runs only)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy Daphne (1,000 sockets, largest point) and the workers (first round)",
    )
    parser.add_argument(
        "--only",
        help=f"comma-separated sections of {','.join(SECTIONS)} (celery-progress brings "
        "base and sweep: it compares with their figures); default all",
    )
    parser.add_argument("--fanout", help="sockets per point of the servers section, e.g. 1000,2000")
    parser.add_argument(
        "--capacity", help="capacity runs, e.g. 4000:daphne=3,uvicorn=1 (sockets:server=runs)"
    )
    parser.add_argument("--e2e", help="end-to-end throughput, e.g. 2000x5 (tasks x rounds)")
    args = parser.parse_args(argv)
    only = set(args.only.split(",")) if args.only else set(SECTIONS)
    if unknown := only - set(SECTIONS):
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    if "celery-progress" in only:
        only |= {"base", "sweep"}
    args.only = only
    sizes: dict[str, Any] = dict(QUICK if args.quick else FULL)
    if args.watchers:
        sizes["sweep"] = [
            (int(a), int(b)) if "x" in item else (int(item), 1)
            for item in args.watchers.split(",")
            for a, _, b in [item.partition("x")]
        ]
    if args.fanout:
        sizes["servers_points"] = [int(n) for n in args.fanout.split(",")]
    if args.capacity:
        count, _, runs = args.capacity.partition(":")
        sizes["capacity_sockets"] = int(count)
        sizes["capacity_runs"] = [
            (server, int(n)) for server, _, n in (item.partition("=") for item in runs.split(","))
        ]
    if args.e2e:
        tasks, _, rounds = args.e2e.partition("x")
        sizes.update(e2e_tasks=int(tasks), e2e_rounds=int(rounds or 1))
    if args.dev_stack is not None:
        sizes["dev_stack"] = int(args.dev_stack)
    for name in ("tasks", "clients", "calls"):
        if getattr(args, name) is not None:
            sizes[name] = getattr(args, name)
    if args.requests is not None:
        sizes.update(requests=args.requests, health=args.requests, load_requests=2 * args.requests)
    args.sizes = sizes
    return args
