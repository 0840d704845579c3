"""Celery beat's presence: beat writes a heartbeat to Redis, doctor and /health/ read it.

When `celery beat` starts (`beat_init`), a thread in it stores its host, pid and the
time of its latest tick (on Redis's clock) under one key every BEAT_TICK_EVERY seconds.
Reading it is one GET. The key outlives beat, so a report can say when beat was last seen.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from celery import signals

from live_progress.store.client import get_redis
from live_progress.store.workers import redis_clock

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

BEAT_KEY = "starter:beat"
BEAT_TICK_EVERY = 2.0
# Three missed ticks and beat counts as gone.
BEAT_GONE_AFTER = 3 * BEAT_TICK_EVERY
BEAT_KEY_TTL = 7 * 24 * 3600


def beat_status(redis: Redis | None = None) -> dict[str, Any]:
    """Whether beat runs, where, and how many seconds ago it last ticked (None: never seen)."""
    redis = redis or get_redis()
    raw = redis.get(BEAT_KEY)
    if not raw:
        return {"running": False, "seconds_since_tick": None, "host": None, "pid": None}
    seen = json.loads(raw)
    since = round(max(0.0, redis_clock.now(redis) - float(seen["tick"])), 1)
    return {
        "running": since < BEAT_GONE_AFTER,
        "seconds_since_tick": since,
        "host": seen.get("host"),
        "pid": seen.get("pid"),
    }


def _tick_forever() -> None:
    me = {"host": socket.gethostname(), "pid": os.getpid()}
    while True:
        try:
            redis = get_redis()
            tick = {**me, "tick": redis_clock.now(redis)}
            redis.set(BEAT_KEY, json.dumps(tick), ex=BEAT_KEY_TTL)
        except Exception:  # Redis away: beat reconnects by itself, and so do we
            logger.debug("beat heartbeat failed", exc_info=True)
        time.sleep(BEAT_TICK_EVERY)


@signals.beat_init.connect
def start_beat_heartbeat(**_: Any) -> None:
    """Start the heartbeat thread in the `celery beat` process."""
    threading.Thread(target=_tick_forever, name="beat-heartbeat", daemon=True).start()
