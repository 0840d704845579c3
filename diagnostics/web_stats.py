"""Each web process writes its sockets' counts to Redis, so any process answers /metrics.

A thread of each web process (`start_web_stats`, called by django_starter/asgi.py)
writes them to one Redis hash every WEB_STATS_EVERY seconds, stamped with Redis's clock;
a process silent for WEB_STATS_GONE_AFTER seconds is left out (and its entry deleted).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from typing import Any

from live_progress.store.client import get_redis
from live_progress.store.workers import redis_clock
from live_progress.web.stats import stats as hub_stats

logger = logging.getLogger(__name__)

WEB_KEY = "starter:metrics:web"  # hash: "<host>:<pid>" -> JSON of its counts and time
WEB_STATS_EVERY = 5.0
WEB_STATS_GONE_AFTER = 3 * WEB_STATS_EVERY

_publisher: threading.Thread | None = None


def process_name() -> str:
    """This process, as the metrics label it: host and pid."""
    return f"{socket.gethostname()}:{os.getpid()}"


def own_counts() -> dict[str, Any]:
    """This process's counts as they stand."""
    return {
        "sockets": hub_stats.sockets,
        "sent": hub_stats.sent,
        "skipped": hub_stats.skipped,
        "delays": list(hub_stats.delays),
        "delay_sum": hub_stats.delay_sum,
    }


def publish_web_stats() -> None:
    """Write this process's counts to Redis, stamped with Redis's clock."""
    redis = get_redis()
    counts = {**own_counts(), "at": redis_clock.now(redis)}
    redis.hset(WEB_KEY, process_name(), json.dumps(counts))


def _publish_forever() -> None:
    while True:
        try:
            publish_web_stats()
        except Exception:  # Redis away: try again next time
            logger.debug("could not publish the web process's counts", exc_info=True)
        time.sleep(WEB_STATS_EVERY)


def start_web_stats() -> None:
    """In a web process: publish its counts every WEB_STATS_EVERY seconds (a thread)."""
    global _publisher
    if _publisher is None or not _publisher.is_alive():
        _publisher = threading.Thread(target=_publish_forever, name="metrics-web", daemon=True)
        _publisher.start()


def web_counts(raw: dict[str, str], now: float, redis: Any) -> dict[str, dict[str, Any]]:
    """Every live web process's counts (the HGETALL of WEB_KEY), this one's the freshest;
    the entries of processes gone silent are deleted."""
    counts = {name: json.loads(text) for name, text in raw.items()}
    gone = [name for name, seen in counts.items() if now - seen["at"] > WEB_STATS_GONE_AFTER]
    if gone:
        redis.hdel(WEB_KEY, *gone)
    live = {name: seen for name, seen in counts.items() if name not in gone}
    live[process_name()] = own_counts()
    return live
