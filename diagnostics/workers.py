"""Worker presence: each worker refreshes a heartbeat in Redis; readers count them.

A worker writes its name and a timestamp into one sorted set every second, so
`workers_online()` is a single cheap ZCOUNT instead of a one-second broadcast
`control.ping`. A worker that dies without a goodbye drops out after
`WORKER_HEARTBEAT_TTL` seconds.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from typing import Any

from celery import signals
from django.conf import settings

from progress.redis_client import get_redis

logger = logging.getLogger(__name__)

WORKERS_KEY = "starter:workers"
WORKER_INFO_KEY = "starter:worker:{name}"
HEARTBEAT_EVERY = 1.0


def workers_online() -> int:
    """How many workers have sent a heartbeat within the last WORKER_HEARTBEAT_TTL seconds."""
    since = time.time() - settings.WORKER_HEARTBEAT_TTL
    return int(get_redis().zcount(WORKERS_KEY, since, "+inf"))


def worker_details() -> list[dict[str, Any]]:
    """Name, queues and registered tasks of every live worker (for /health/ and doctor)."""
    redis = get_redis()
    since = time.time() - settings.WORKER_HEARTBEAT_TTL
    names = redis.zrangebyscore(WORKERS_KEY, since, "+inf")
    if not names:
        return []
    infos = redis.mget([WORKER_INFO_KEY.format(name=name) for name in names])
    return [json.loads(info) if info else {"name": name} for name, info in zip(names, infos,
                                                                               strict=True)]


class Heartbeat:
    """The thread inside a worker's main process that keeps it counted as online."""

    def __init__(self, sender: Any) -> None:
        self.name: str = sender.hostname
        self.sender = sender
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="worker-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        try:
            redis = get_redis()
            redis.zrem(WORKERS_KEY, self.name)
            redis.delete(WORKER_INFO_KEY.format(name=self.name))
        except Exception:
            logger.warning("could not remove the heartbeat of %s", self.name, exc_info=True)

    def _info(self) -> dict[str, Any]:
        # The sender of `worker_ready` is the worker's consumer.
        task_consumer = getattr(self.sender, "task_consumer", None)
        queues = [queue.name for queue in task_consumer.queues] if task_consumer else []
        app = self.sender.app
        return {
            "name": self.name,
            "queues": queues,
            "registered": sorted(name for name in app.tasks if not name.startswith("celery.")),
            "pid": os.getpid(),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                now = time.time()
                redis = get_redis()
                with redis.pipeline() as pipe:
                    pipe.zadd(WORKERS_KEY, {self.name: now})
                    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 3600)
                    pipe.set(WORKER_INFO_KEY.format(name=self.name), json.dumps(self._info()),
                             ex=int(settings.WORKER_HEARTBEAT_TTL) + 60)
                    pipe.execute()
            except Exception:  # Redis away: keep trying, the worker reconnects on its own
                logger.debug("heartbeat failed", exc_info=True)
            self._stop.wait(HEARTBEAT_EVERY)


_heartbeat: Heartbeat | None = None


@signals.worker_ready.connect
def start_heartbeat(sender: Any = None, **_: Any) -> None:
    global _heartbeat
    _heartbeat = Heartbeat(sender)
    _heartbeat.start()


@signals.worker_shutting_down.connect
def stop_heartbeat(**_: Any) -> None:
    if _heartbeat is not None:
        _heartbeat.stop()
