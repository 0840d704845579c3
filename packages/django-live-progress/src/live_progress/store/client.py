"""One Redis client per process for the progress store and the worker heartbeat."""

from __future__ import annotations

import hashlib
import os
import threading
from typing import Any

import redis
from redis.exceptions import NoScriptError

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


_digests: dict[str, str] = {}


def run_script(
    script: str, keys: list[str], *args: str | int | float, client: redis.Redis | None = None
) -> Any:
    """Run a Lua script by its SHA1 (EVALSHA), sending its text only when Redis lacks it.

    The store's scripts are a few KB each: sent with every EVAL, Redis would read and hash
    the whole text on each progress write and each start.
    """
    client = client or get_redis()
    digest = _digest(script)
    try:
        return client.evalsha(digest, len(keys), *keys, *args)
    except NoScriptError:  # a restarted or other Redis: EVAL loads it into its cache
        return client.eval(script, len(keys), *keys, *args)


def run_scripts(script: str, calls: list[tuple[list[str], list[str | int | float]]]) -> list[Any]:
    """`run_script` once per (keys, args) of `calls`, all in one round trip (a pipeline)."""
    client = get_redis()
    digest = _digest(script)
    with client.pipeline(transaction=False) as pipe:
        for keys, args in calls:
            pipe.evalsha(digest, len(keys), *keys, *args)
        answers: list[Any] = pipe.execute(raise_on_error=False)
    for index, answer in enumerate(answers):
        if isinstance(answer, NoScriptError):
            # A restarted Redis. Not necessarily every call: another process's EVAL may
            # have loaded the script between two of them. Only the refused ones run again.
            keys, args = calls[index]
            answers[index] = run_script(script, keys, *args, client=client)
        elif isinstance(answer, Exception):
            raise answer
    return answers


def _digest(script: str) -> str:
    """The script's SHA1, by which Redis caches it."""
    digest = _digests.get(script)
    if digest is None:
        digest = _digests[script] = hashlib.sha1(script.encode()).hexdigest()
    return digest
