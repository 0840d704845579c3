"""Throughput of no-op tasks: bare Celery, tracked (progress.start) and untracked (.delay).

Two workers with the same options (prefork, 2 processes, `-l warning`, same broker and
Celery settings) sit idle on queues of their own: bench/bare.py (Celery alone) and the
project's (its signal handlers, heartbeat and recorder loaded). A round fills one queue
with N tasks while no worker consumes it, tells the worker to consume it, and times
until every result reads SUCCESS. Rounds alternate the three kinds, in a rotating order.
"""

from __future__ import annotations

import statistics
import time
from typing import Any

import redis

from django_starter.celery import app as celery_app
from live_progress.web import services

from .table import Row

KINDS = ("bare", "tracked", "untracked")
RESULT_PREFIX = "celery-task-meta-"
# Celery settings Django names CELERY_* that are not Celery's (see django_starter/settings.py).
NOT_CELERY = {"CELERY_VISIBILITY_TIMEOUT"}


def bare_config() -> dict[str, Any]:
    """The project's Celery settings under Celery's own (lowercase) names."""
    from django.conf import settings

    return {
        name.removeprefix("CELERY_").lower(): getattr(settings, name)
        for name in dir(settings)
        if name.startswith("CELERY_") and name not in NOT_CELERY
    }


def queue_of(kind: str) -> str:
    return f"bench-throughput-{kind}"


def fill(kind: str, count: int, owner: str) -> list[str]:
    """Send `count` no-op tasks of `kind` to its queue (nobody consumes it yet)."""
    from bench.tasks import noop

    queue = queue_of(kind)
    if kind == "tracked":
        signature = noop.s().set(queue=queue)
        return [
            str(services.start(signature, owner=owner, limited=False)["task_id"])
            for _ in range(count)
        ]
    return [str(celery_app.send_task("bench.noop", queue=queue).id) for _ in range(count)]


def wait_done(client: redis.Redis, ids: list[str], timeout: float, pause: float = 0.005) -> int:
    """Until every task's result reads SUCCESS (checked in order, a window at a time); the
    number of Redis calls it made."""
    deadline, index, calls = time.monotonic() + timeout, 0, 0
    while index < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - index} of {len(ids)} tasks not done")
        window = ids[index : index + 200]
        values = client.mget([RESULT_PREFIX + task_id for task_id in window])
        calls += 1
        for value in values:
            if value is None or b'"SUCCESS"' not in value:
                break
            index += 1
        else:
            continue
        time.sleep(pause)
    return calls


def consume(worker: Any, kind: str, ids: list[str], client: redis.Redis) -> float:
    """Let `worker` consume the kind's queue; tasks/s until the last result is stored."""
    queue = queue_of(kind)
    started = time.perf_counter()
    celery_app.control.add_consumer(queue, destination=[worker.node], reply=True, timeout=5)
    wait_done(client, ids, timeout=120 + len(ids) * 0.05)
    seconds = time.perf_counter() - started
    celery_app.control.cancel_consumer(queue, destination=[worker.node], reply=True, timeout=5)
    return len(ids) / seconds


def wait_consuming(worker: Any, timeout: float = 60) -> None:
    """Until the worker answers a control ping (its pool is up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not worker.alive():
            raise RuntimeError(f"worker exited:\n{worker.log()[-3000:]}")
        if celery_app.control.ping(destination=[worker.node], timeout=0.5):
            return
    raise TimeoutError(f"worker {worker.node} did not answer a ping")


def run(
    *, bare: Any, project: Any, owner: str, count: int, rounds: int, profile: Any = None
) -> dict[str, list[float]]:
    """`rounds` rounds of the three kinds, each `count` tasks; tasks/s per kind per round.

    `profile(kind, worker)`, when given, returns a context manager held around the
    consume of each kind's first round (py-spy on that worker and its pool).
    """
    from contextlib import nullcontext

    wait_consuming(bare)
    wait_consuming(project)
    rates: dict[str, list[float]] = {kind: [] for kind in KINDS}
    client = redis.Redis.from_url(celery_app.conf.result_backend)
    try:
        for index in range(rounds + 1):  # round 0 warms the pools up, not counted
            order = KINDS[index % 3 :] + KINDS[: index % 3]
            for kind in order:
                ids = fill(kind, count if index else max(20, count // 10), owner)
                worker = bare if kind == "bare" else project
                held = profile(kind, worker) if profile and index == 1 else nullcontext()
                with held:
                    rate = consume(worker, kind, ids, client)
                if index:
                    rates[kind].append(rate)
    finally:
        client.close()
    return rates


def rows(rates: dict[str, list[float]], *, count: int) -> list[Row]:
    out = []
    for kind, how in (
        ("bare", "bench/bare.py: the same Celery settings, no project code"),
        ("tracked", "services.start (snapshot, history row, header), a no-op task"),
        ("untracked", "send_task of the same no-op task, no header"),
    ):
        rate = statistics.median(rates[kind])
        spread = ", ".join(f"{r:,.0f}" for r in rates[kind])
        out.append(
            Row(
                f"throughput {kind}",
                rate,
                "tasks/s",
                f"median of {len(rates[kind])} rounds of {count:,} ({spread}); {how}",
            )
        )
    for kind, goal in (("tracked", 0.9), ("untracked", 0.99)):
        # Each round's ratio to the bare run of the same round (the machine's load drifts
        # less within a round than across the run), then their median.
        ratios = [mine / theirs for mine, theirs in zip(rates[kind], rates["bare"], strict=True)]
        ratio = statistics.median(ratios)
        out.append(
            Row(
                f"throughput {kind} / bare",
                ratio,
                "x",
                f"median of the rounds' ratios ({', '.join(f'{r:.2f}' for r in ratios)}); "
                f"goal ≥ {goal}: {'met' if ratio >= goal else 'NOT met'}",
            )
        )
    return out
