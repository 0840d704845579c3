"""Worker presence, write side: a thread in each worker's main process keeps it counted.

Every `HEARTBEAT_EVERY` seconds it writes the worker's name and a timestamp (on Redis's
clock) into one sorted set, with a small description of the worker beside it (queues,
registered and active tasks); `store.workers` counts and reads them. Started by Celery's
`worker_ready` signal, so a worker of any project counts once the app is installed.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from typing import Any

from celery import signals

from live_progress.conf import conf
from live_progress.store.client import get_redis
from live_progress.store.workers import HEARTBEAT_EVERY, WORKER_INFO_KEY, WORKERS_KEY, redis_clock

logger = logging.getLogger(__name__)


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
        from celery.worker import state

        # The sender of `worker_ready` is the worker's consumer.
        task_consumer = getattr(self.sender, "task_consumer", None)
        queues = [queue.name for queue in task_consumer.queues] if task_consumer else []
        app = self.sender.app
        return {
            "name": self.name,
            "queues": queues,
            "registered": sorted(name for name in app.tasks if not name.startswith("celery.")),
            "active": len(state.active_requests),
            "reserved": len(state.reserved_requests),
            "concurrency": getattr(getattr(self.sender, "pool", None), "num_processes", None),
            "pid": os.getpid(),
        }

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                redis = get_redis()
                now = redis_clock.now(redis)
                with redis.pipeline() as pipe:
                    pipe.zadd(WORKERS_KEY, {self.name: now})
                    pipe.zremrangebyscore(WORKERS_KEY, "-inf", now - 3600)
                    pipe.set(
                        WORKER_INFO_KEY.format(name=self.name),
                        json.dumps(self._info()),
                        ex=int(conf.WORKER_HEARTBEAT_TTL) + 60,
                    )
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
