"""Worker presence, read side: how many workers are online, and what each one says of itself.

A worker writes its name and a timestamp (on Redis's clock) into one sorted set every
half second, so `workers_online()` is a single cheap ZCOUNT instead of Celery's broadcast
`control.ping`, which waits its whole timeout (one second by default) for replies.
A worker that dies without a goodbye drops out after `WORKER_HEARTBEAT_TTL` seconds.
Beside the timestamp, each worker keeps a small JSON description of itself (queues,
registered tasks, active tasks) that /health/, doctor and stuck-task diagnosis read.
"""

from __future__ import annotations

import json
import os
import threading
import time
from typing import TYPE_CHECKING, Any

from live_progress.conf import conf
from live_progress.store.client import get_redis

if TYPE_CHECKING:
    from redis import Redis

WORKERS_KEY = "progress:workers"
WORKER_INFO_KEY = "progress:worker:{name}"
HEARTBEAT_EVERY = 0.5


class _RedisClock:
    """Redis's clock, read with TIME once a minute and followed locally in between.

    Heartbeats are written on the workers' hosts and read on the web hosts; scoring and
    comparing them on one clock keeps a skew between hosts from hiding live workers.
    """

    RESYNC_EVERY = 60.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._offset: float | None = None
        self._synced_at = 0.0

    def now(self, redis: Redis | None = None) -> float:
        with self._lock:
            if self._offset is None or time.monotonic() - self._synced_at > self.RESYNC_EVERY:
                seconds, micros = (redis or get_redis()).time()
                self._offset = seconds + micros / 1e6 - time.time()
                self._synced_at = time.monotonic()
            return time.time() + self._offset

    def after_fork(self) -> None:
        self._lock = threading.Lock()


redis_clock = _RedisClock()
os.register_at_fork(after_in_child=redis_clock.after_fork)


def online_since(redis: Redis | None = None) -> float:
    """The oldest heartbeat timestamp (on Redis's clock) that still counts as alive."""
    return redis_clock.now(redis) - float(conf.WORKER_HEARTBEAT_TTL)


def workers_online(redis: Redis | None = None) -> int:
    """How many workers have sent a heartbeat within the last WORKER_HEARTBEAT_TTL seconds."""
    redis = redis or get_redis()
    return int(redis.zcount(WORKERS_KEY, online_since(redis), "+inf"))


def worker_details(redis: Redis | None = None) -> list[dict[str, Any]]:
    """Name, queues, active and registered tasks of every live worker (two Redis calls)."""
    redis = redis or get_redis()
    names = redis.zrangebyscore(WORKERS_KEY, online_since(redis), "+inf")
    if not names:
        return []
    infos = redis.mget([WORKER_INFO_KEY.format(name=name) for name in names])
    return [
        json.loads(info) if info else {"name": name, "queues": [], "registered": []}
        for name, info in zip(names, infos, strict=True)
    ]


class _DetailsCache:
    """worker_details() shared by every caller in this process for `max_age` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._at = -1e9
        self._value: list[dict[str, Any]] = []

    def get(self) -> list[dict[str, Any]]:
        with self._lock:
            if time.monotonic() - self._at > self.max_age:
                self._value = worker_details()
                self._at = time.monotonic()
            return self._value


_details_cache = _DetailsCache(max_age=HEARTBEAT_EVERY)


class _CountCache:
    """workers_online() shared by every caller in this process for `max_age` seconds."""

    def __init__(self, max_age: float) -> None:
        self.max_age = max_age
        self._lock = threading.Lock()
        self._at = -1e9
        self._value = 0

    def get(self, redis: Redis | None = None) -> int:
        with self._lock:
            if time.monotonic() - self._at > self.max_age:
                self._value = workers_online(redis)
                self._at = time.monotonic()
            return self._value


_count_cache = _CountCache(max_age=HEARTBEAT_EVERY / 2)


def cached_workers_online(redis: Redis | None = None) -> int:
    """workers_online(), read at most once per quarter second per process."""
    return _count_cache.get(redis)


def cached_worker_details() -> list[dict[str, Any]]:
    """worker_details(), at most one read per second per process (for stuck-task diagnosis)."""
    return _details_cache.get()
