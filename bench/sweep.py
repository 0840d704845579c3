"""The watchers sweep's driver and its rows: every point in turn (bench/watchers.py runs one)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from .table import Row, percentile
from .watchers import Point, run_point


def profile_of(
    profile: Callable[[tuple[int, int]], AbstractContextManager[None] | None] | None,
    point: tuple[int, int],
) -> Callable[[], AbstractContextManager[None]] | None:
    """The recording to hold around a point's running window, if any."""
    if profile is None:
        return None
    held = profile(point)
    return (lambda: held) if held is not None else None


def point_rows(point: Point, *, steps: int, delay: float) -> list[Row]:
    """The rows of one point: latency percentiles, delivery, CPU, memory, Redis."""
    name = f"watchers {point.label}"
    lat = point.latencies or [float("nan")]
    shape = f"{steps} steps x {delay:g} s"
    skipped_pct = 100 * point.skipped / point.published if point.published else 0.0
    return [
        Row(
            f"{name}: latency p50",
            percentile(lat, 50) * 1000,
            "ms",
            f"updated_at → socket; {shape}; n={len(point.latencies):,}",
        ),
        Row(f"{name}: latency p95", percentile(lat, 95) * 1000, "ms", ""),
        Row(f"{name}: latency p99", percentile(lat, 99) * 1000, "ms", ""),
        Row(f"{name}: latency max", max(lat) * 1000, "ms", ""),
        Row(
            f"{name}: first socket p99",
            percentile(point.firsts or [0.0], 99) * 1000,
            "ms",
            f"per change: updated_at → the first socket to get it; p50 "
            f"{percentile(point.firsts or [0.0], 50) * 1000:.3g} ms",
        ),
        Row(
            f"{name}: fan-out spread p99",
            percentile(point.spreads or [0.0], 99) * 1000,
            "ms",
            f"per change: last socket's receipt - first's; p50 "
            f"{percentile(point.spreads or [0.0], 50) * 1000:.3g} ms",
        ),
        Row(
            f"{name}: values skipped",
            point.skipped,
            "values",
            f"{skipped_pct:.1f}% of {point.published:,} seq steps (latest wins)",
        ),
        Row(
            f"{name}: missed terminal",
            point.missed_terminal,
            "sockets",
            f"{point.refused} refused at connect; all {point.sockets:,} open in "
            f"{point.connect_seconds:.1f} s",
        ),
        Row(
            f"{name}: Daphne CPU running",
            point.daphne_cpu_running,
            "%core",
            f"idle {point.daphne_cpu_idle:.1f}%; bench client {point.client_cpu_running:.0f}%; "
            f"machine: {point.machine_cpu:.0f}% of all cores busy, load {point.load:.1f}",
        ),
        Row(
            f"{name}: bench client loop lag p99",
            percentile(point.client_lag or [0.0], 99) * 1000,
            "ms",
            "how late the client's event loop woke (its share of the latency)",
        ),
        Row(f"{name}: Daphne RSS", point.daphne_rss / 2**20, "MiB", "peak of the samples"),
        Row(
            f"{name}: Redis cmds/s idle",
            point.idle_commands,
            "cmd/s",
            "sockets open, task queued, not consumed (whole Redis)",
        ),
        Row(
            f"{name}: Redis cmds/s running",
            point.running_commands,
            "cmd/s",
            f"over {point.running_seconds:.1f} s, consume → last socket closed",
        ),
    ]


def sweep(
    base_url: str,
    *,
    owner: str,
    cookie: str,
    worker: Any,
    daphne_pid: int,
    points: list[tuple[int, int]],
    steps: int,
    delay: float,
    many_steps: int,
    idle_seconds: float,
    profile: Callable[[tuple[int, int]], AbstractContextManager[None] | None] | None = None,
) -> tuple[list[Row], list[Point]]:
    """Every point in turn, in one process; the N-on-N points use the shorter `many_steps`."""
    rows: list[Row] = []
    done: list[Point] = []
    for sockets, tasks in points:
        point_steps = steps if tasks == 1 else many_steps
        point = asyncio.run(
            run_point(
                base_url,
                owner=owner,
                cookie=cookie,
                worker=worker,
                daphne_pid=daphne_pid,
                sockets=sockets,
                tasks=tasks,
                steps=point_steps,
                delay=delay,
                idle_seconds=idle_seconds,
                timeout=120 + tasks * point_steps * delay,
                profile=profile_of(profile, (sockets, tasks)),
            )
        )
        done.append(point)
        rows += point_rows(point, steps=point_steps, delay=delay)
        time.sleep(1.0)  # the hub unsubscribes from the finished tasks
    return rows, done
