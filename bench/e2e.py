"""Throughput end to end: the timed window includes the enqueueing loop.

Two workers with the same options consume from the start (bench/bare.py's and the
project's). A round sends N no-op tasks in a loop and waits until every result reads
SUCCESS: bare Celery's send (bench/bare.py's settings, an app of its own here) against
`services.start(..., limited=True)`, once with a new owner per call and once with one
owner for all of them (the caps lifted through the environment, see bench/stack.py).
Also: the loop's own µs per call, Redis commands per task (INFO's counter over the
round, less this process's own polling), and the CPU each task cost in the sender's loop,
the worker (its main and pool processes) and Redis: what tracking adds, wherever it runs,
free of the scheduling noise that moves the rates from round to round.
"""

from __future__ import annotations

import statistics
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psutil
import redis
from celery import Celery

from django_starter.celery import app as celery_app
from live_progress.web import services

from .servers import cpu_seconds
from .table import Row
from .throughput import bare_config, wait_consuming, wait_done

KINDS = ("bare", "owners", "one-owner")
HOW = {
    "bare": "send_task with bench/bare.py's settings (no project code)",
    "owners": "services.start(limited=True), a new owner string per call",
    "one-owner": "services.start(limited=True), one owner, caps lifted to 10^6",
}
TRACKED_GOAL, CALL_GOAL = 0.95, 2.0


def queue_of(kind: str) -> str:
    """The queue a kind's tasks go to (its worker consumes it)."""
    return "bench-e2e-bare" if kind == "bare" else "bench-e2e-project"


@dataclass
class Rounds:
    """Per kind, per counted round: tasks/s, µs per call (wall, CPU), commands per task."""

    rate: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    call: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    call_cpu: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    commands: dict[str, list[float]] = field(default_factory=lambda: {k: [] for k in KINDS})
    # CPU µs per task: the send loop, the worker, Redis
    cpu: dict[str, list[tuple[float, float, float]]] = field(
        default_factory=lambda: {k: [] for k in KINDS}
    )
    top: dict[str, dict[str, float]] = field(default_factory=dict)  # per task, last round


def command_calls(client: redis.Redis) -> dict[str, int]:
    """INFO commandstats: calls per command so far."""
    stats = client.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(value["calls"]) for name, value in stats.items()}


def worker_cpu(pid: int) -> float:
    """CPU seconds (user and system) of a worker's main process and its pool so far."""
    pool = [child.pid for child in psutil.Process(pid).children(recursive=True)]
    return cpu_seconds([pid, *pool])


def redis_cpu(client: redis.Redis) -> float:
    """CPU seconds of the Redis server so far (its own INFO)."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def sender(kind: str) -> Any:
    """A function sending one no-op task of `kind`; its id."""
    from bench.tasks import noop

    if kind == "bare":
        # bench/bare.py's app as a client: its settings, no project code, not the current
        # app. Its task by name (apply_async is this plus the signature): a task defined
        # here would clash with the shared bench.tasks.noop every new app registers.
        bare = Celery("bare-client", fixups=[], set_as_current=False)
        bare.config_from_object(bare_config())
        return lambda: bare.send_task("bench.noop", queue=queue_of(kind)).id
    signature = noop.s().set(queue=queue_of(kind))
    fixed = f"bench-e2e-{uuid.uuid4().hex}"

    def start() -> str:
        """services.start of one no-op task; its id."""
        owner = fixed if kind == "one-owner" else f"bench-e2e-{uuid.uuid4().hex}"
        return str(services.start(signature, owner=owner, limited=True)["task_id"])

    return start


def one_round(
    kind: str, send: Any, count: int, client: redis.Redis, top: dict[str, float], worker: int
) -> tuple[Any, ...]:
    """tasks/s, µs per call, CPU µs per call, Redis commands per task, and CPU µs per task
    (send loop, worker, Redis) for `count` tasks; `top` gets the commands per task by
    command."""
    calls = command_calls(client)
    before = int(client.info("stats")["total_commands_processed"])
    worker_before, redis_before = worker_cpu(worker), redis_cpu(client)
    cpu, started = time.process_time(), time.perf_counter()
    ids = [send() for _ in range(count)]
    sent, cpu = time.perf_counter() - started, time.process_time() - cpu
    polls = wait_done(client, ids, timeout=120 + count * 0.05, pause=0.01)
    seconds = time.perf_counter() - started
    spent = (
        1e6 * cpu / count,
        1e6 * (worker_cpu(worker) - worker_before) / count,
        1e6 * (redis_cpu(client) - redis_before) / count,
    )
    commands = int(client.info("stats")["total_commands_processed"]) - before - polls - 1
    calls_after = command_calls(client)
    top.clear()
    top.update({name: (n - calls.get(name, 0)) / count for name, n in calls_after.items()})
    top["mget"] = top.get("mget", 0.0) - polls / count
    top["info"] = 0.0
    return count / seconds, 1e6 * sent / count, 1e6 * cpu / count, commands / count, spent


def run(*, bare: Any, project: Any, count: int, rounds: int) -> Rounds:
    """Round 0 warms up; then `rounds` rounds of each kind, the order rotating."""
    wait_consuming(bare)
    wait_consuming(project)
    senders = {kind: sender(kind) for kind in KINDS}
    out = Rounds()
    client = redis.Redis.from_url(celery_app.conf.result_backend)
    try:
        for index in range(rounds + 1):
            for kind in KINDS[index % 3 :] + KINDS[: index % 3]:
                top = out.top.setdefault(kind, {})
                size = count if index else min(50, count)
                worker = (bare if kind == "bare" else project).pid
                figures = one_round(kind, senders[kind], size, client, top, worker)
                if index:
                    stores: tuple[dict[str, list[Any]], ...] = (
                        out.rate,
                        out.call,
                        out.call_cpu,
                        out.commands,
                        out.cpu,
                    )
                    for store, value in zip(stores, figures, strict=True):
                        store[kind].append(value)
    finally:
        client.close()
    return out


def rows(done: Rounds, *, count: int) -> list[Row]:
    """Rates, ratios to bare (median of the rounds' ratios), µs per call, commands and CPU
    per task."""
    med = statistics.median
    out = []
    for kind in KINDS:
        rates = ", ".join(f"{r:,.0f}" for r in done.rate[kind])
        out += [
            Row(
                f"e2e throughput {kind}",
                med(done.rate[kind]),
                "tasks/s",
                f"median of {len(done.rate[kind])} rounds of {count:,} ({rates}); the send "
                f"loop {med(done.call[kind]) * count / 1e6:.1f} s of the "
                f"{count / med(done.rate[kind]):.1f} s until all SUCCESS; {HOW[kind]}",
            ),
            Row(
                f"e2e send cost {kind}",
                med(done.call[kind]),
                "µs/call",
                f"the loop's wall time per call, median of rounds; CPU "
                f"{med(done.call_cpu[kind]):.0f} µs/call (this process, worker running)",
            ),
            Row(
                f"e2e Redis commands {kind}",
                med(done.commands[kind]),
                "cmd/task",
                "INFO total_commands_processed over the round / tasks (whole Redis, "
                "heartbeats included, the bench's own polling not); last round: "
                + ", ".join(
                    f"{name} {n:.2f}"
                    for name, n in sorted(done.top.get(kind, {}).items(), key=lambda i: -i[1])[:12]
                ),
            ),
        ]
    parts = {
        kind: [statistics.median(p) for p in zip(*done.cpu[kind], strict=True)] for kind in KINDS
    }
    for kind in KINDS:
        loop, worker, redis_ = parts[kind]
        out.append(
            Row(
                f"e2e CPU per task {kind}",
                loop + worker + redis_,
                "µs/task",
                f"send loop {loop:.0f} + worker {worker:.0f} (main and pool) + Redis "
                f"{redis_:.0f}, medians of rounds",
            )
        )
    for kind in ("owners", "one-owner"):
        extra = [t - b for t, b in zip(parts[kind], parts["bare"], strict=True)]
        out.append(
            Row(
                f"e2e CPU bare / tracked ({kind})",
                sum(parts["bare"]) / sum(parts[kind]),
                "x",
                f"tracking adds {sum(extra):.0f} µs of CPU per task: send loop {extra[0]:+.0f}, "
                f"worker {extra[1]:+.0f}, Redis {extra[2]:+.0f}; where the CPU is the limit "
                "(as on this machine), tracked/bare throughput tends to this ratio",
            )
        )
    for kind in ("owners", "one-owner"):
        ratios = [t / b for t, b in zip(done.rate[kind], done.rate["bare"], strict=True)]
        calls = [t / b for t, b in zip(done.call[kind], done.call["bare"], strict=True)]
        cpus = [t / b for t, b in zip(done.call_cpu[kind], done.call_cpu["bare"], strict=True)]
        ratio, call = med(ratios), med(calls)
        out += [
            Row(
                f"e2e tracked / bare ({kind})",
                ratio,
                "x",
                f"rounds {', '.join(f'{r:.2f}' for r in ratios)}; goal ≥ {TRACKED_GOAL}: "
                f"{'met' if ratio >= TRACKED_GOAL else 'NOT met'}",
            ),
            Row(
                f"e2e start() / apply_async ({kind})",
                call,
                "x",
                f"µs per call, rounds {', '.join(f'{r:.2f}' for r in calls)}; CPU per call "
                f"{med(cpus):.2f}x; goal ≤ {CALL_GOAL:g}: "
                f"{'met' if call <= CALL_GOAL else 'NOT met'}",
            ),
        ]
    return out
