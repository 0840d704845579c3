"""One Redis client per process for the progress store and the worker heartbeat."""

from __future__ import annotations

import os
import threading

import redis

from live_progress.conf import conf

_lock = threading.Lock()
_client: redis.Redis | None = None
_client_pid = 0


def _after_fork_in_child() -> None:
    # A thread of the parent (the heartbeat, say) may have held the lock at the fork.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_redis() -> redis.Redis:
    """The process's client for `REDIS_URL`, with short timeouts (an outage fails fast)."""
    global _client, _client_pid
    with _lock:
        if _client is None or _client_pid != os.getpid():
            timeout = conf.REDIS_SOCKET_TIMEOUT
            _client = redis.Redis.from_url(
                conf.redis_url,
                decode_responses=True,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=15,
            )
            _client_pid = os.getpid()
        return _client
