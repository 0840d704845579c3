"""Send snapshots to a task's Channels group from synchronous code (worker or view).

channels_redis binds its connections to the event loop that opened them. Calling
`async_to_sync(group_send)` from a Celery worker makes a fresh loop per call and
closes it, which ends in "RuntimeError: Event loop is closed" (channels_redis#332).
Here every send runs on one event loop that lives as long as the process does.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from channels.layers import get_channel_layer

from .snapshot import Snapshot

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_loop_pid = 0

SEND_TIMEOUT = 5.0


def _after_fork_in_child() -> None:
    # The parent's loop thread does not exist in the child; neither may its lock's holder.
    global _lock, _loop
    _lock, _loop = threading.Lock(), None


os.register_at_fork(after_in_child=_after_fork_in_child)


def group_name(task_id: str) -> str:
    """The Channels group that a task's WebSocket consumers join."""
    return f"progress.{task_id}"


def _process_loop() -> asyncio.AbstractEventLoop:
    """This process's long-lived event loop (a new one after a fork)."""
    global _loop, _loop_pid
    with _lock:
        if _loop is None or _loop_pid != os.getpid():
            _loop = asyncio.new_event_loop()
            _loop_pid = os.getpid()
            threading.Thread(
                target=_loop.run_forever, name="progress-broadcast", daemon=True
            ).start()
        return _loop


def send_snapshot(snapshot: Snapshot) -> bool:
    """Publish a snapshot to its task's group; False (and a log line) when that fails.

    A lost message is not fatal: the snapshot is already stored, and consumers
    read it on connect.
    """
    layer = get_channel_layer()
    if layer is None:
        return False
    message: dict[str, Any] = {"type": "progress.update", "snapshot": snapshot}
    future = asyncio.run_coroutine_threadsafe(
        layer.group_send(group_name(snapshot["task_id"]), message), _process_loop()
    )
    try:
        future.result(timeout=SEND_TIMEOUT)
    except Exception:
        future.cancel()
        logger.warning("could not publish progress of %s", snapshot["task_id"], exc_info=True)
        return False
    return True
