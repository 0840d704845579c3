"""Worker presence: worker/heartbeat.py writes it, store/workers.py counts it (real workers)."""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import redis
from processes import Proc, start_worker, wait_for

from live_progress.store.workers import (
    WORKERS_KEY,
    online_since,
    worker_details,
    workers_online,
)

# The workers these tests start and stop consume a queue nobody sends to: they never take
# (and, killed, never lose) another test's task.
OWN_QUEUE = "presence-tests"


def test_a_worker_counts_once_ready_and_its_warm_shutdown_takes_it_away(
    live_env: dict[str, str], logs_dir: Path, redis_client: redis.Redis
) -> None:
    before = workers_online()
    proc = start_worker(live_env, log_dir=logs_dir, concurrency=1, queue=OWN_QUEUE)
    try:
        wait_for(lambda: workers_online() == before + 1, what="the worker counted")
    finally:
        proc.stop()
    # Its goodbye, not the heartbeat's expiry: gone as soon as the process is.
    assert redis_client.zscore(WORKERS_KEY, proc.node) is None  # type: ignore[attr-defined]
    assert workers_online() == before


def test_a_killed_worker_stops_counting_once_its_heartbeat_is_old(
    live_env: dict[str, str], logs_dir: Path, redis_client: redis.Redis
) -> None:
    before = workers_online()
    proc = start_worker(live_env, log_dir=logs_dir, concurrency=1, queue=OWN_QUEUE)
    try:
        wait_for(lambda: workers_online() == before + 1, what="the worker counted")
        proc.signal(signal.SIGKILL)  # no goodbye
        proc.popen.wait(10)
        assert redis_client.zscore(WORKERS_KEY, proc.node) is not None  # type: ignore[attr-defined]
        wait_for(lambda: workers_online() == before, what="the dead worker no longer counted")
    finally:
        proc.stop()


def test_only_heartbeats_younger_than_the_ttl_count(redis_client: redis.Redis) -> None:
    before = workers_online()
    stale, fresh = f"stale-{uuid.uuid4().hex}", f"fresh-{uuid.uuid4().hex}"
    try:
        redis_client.zadd(WORKERS_KEY, {stale: online_since() - 5})
        assert workers_online() == before
        redis_client.zadd(WORKERS_KEY, {fresh: online_since() + 5})
        assert workers_online() == before + 1
    finally:
        redis_client.zrem(WORKERS_KEY, stale, fresh)


def test_a_worker_describes_its_queues_and_registered_tasks(worker: Proc) -> None:
    def mine() -> dict[str, object] | None:
        return next((d for d in worker_details() if d["name"] == worker.node), None)  # type: ignore[attr-defined]

    details = wait_for(mine, what="the worker's details")
    assert details["queues"] == ["celery"]
    assert "testproject.tasks.count" in details["registered"]
    assert details["concurrency"] == 2
