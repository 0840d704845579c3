"""Tasks only the benchmark uses; the bench worker imports them with `--include bench.tasks`."""

from __future__ import annotations

import time
from typing import Any

from celery import shared_task

from live_progress import progress
from live_progress.store.client import get_redis


@shared_task(name="bench.tight_loop")
def tight_loop(calls: int = 1_000_000) -> dict[str, Any]:
    """Call `progress.set` `calls` times as fast as possible; time the loop and an empty one."""
    client = get_redis()
    before = int(client.info("stats")["total_commands_processed"])
    started = time.perf_counter()
    for i in range(1, calls + 1):
        progress.set(i, total=calls)
    seconds = time.perf_counter() - started
    # Every command Redis processed during the loop (the worker's heartbeat included).
    commands = int(client.info("stats")["total_commands_processed"]) - before - 1
    started = time.perf_counter()
    for i in range(1, calls + 1):
        _ = (i, calls)
    empty = time.perf_counter() - started
    return {
        "calls": calls,
        "seconds": seconds,
        "empty_loop_seconds": empty,
        "redis_commands": commands,
    }


@shared_task(name="bench.latency_probe")
def latency_probe(count: int = 50, gap: float = 0.06) -> dict[str, Any]:
    """Publish `count` progress updates, each carrying its wall-clock send time as message.

    `gap` is longer than PROGRESS_PUBLISH_INTERVAL, so no update is coalesced away
    and each one is written and published inside the `progress.set` call.
    """
    for i in range(1, count + 1):
        progress.set(i, total=count, message=repr(time.time()))
        time.sleep(gap)
    return {"count": count}


@shared_task(name="bench.noop")
def noop() -> None:
    """Nothing at all, and no progress.set(): tracked only when sent by progress.start."""
