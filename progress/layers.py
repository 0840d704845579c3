"""The Redis channel layer, made to report a lost Redis instead of crashing consumers.

channels_redis raises from `receive` when Redis goes away, which kills every open
WebSocket consumer with a traceback and a bare 1011 close. This layer turns that
error into a `layer.lost` message, so a consumer can tell its page in words (close
code 4503) and the page reconnects once Redis is back.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
from channels_redis.core import RedisChannelLayer

logger = logging.getLogger(__name__)

LOST_PAUSE_SECONDS = 1.0
CANCEL_AGAIN_SECONDS = 1.0
LOST_ERRORS = (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class ProgressChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """RedisChannelLayer whose `receive` answers `layer.lost` while Redis is unreachable."""

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message for `channel`, or `layer.lost` (after a pause) when Redis is away.

        The receive runs in a task of its own so that cancelling this call (the socket
        went away, the server stops) always ends it at once: under Python 3.11 a cancel
        that lands as redis-py's read timeout fires can be swallowed, and channels_redis
        would then wait on Redis for ever, keeping the consumer alive.
        """
        inner = asyncio.ensure_future(self._receive_or_lost(channel))
        try:
            await asyncio.wait({inner})
        except asyncio.CancelledError:
            _cancel_until_done(inner)
            raise
        return inner.result()

    async def _receive_or_lost(self, channel: str) -> dict[str, Any]:
        try:
            message: dict[str, Any] = await super().receive(channel)
        except LOST_ERRORS as error:
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                raise asyncio.CancelledError from error  # being cancelled: end, do not retry
            logger.warning("channel layer lost Redis: %s", error)
            await asyncio.sleep(LOST_PAUSE_SECONDS)  # no busy loop while Redis stays away
            return {"type": "layer.lost", "error": str(error)}
        return message


def _cancel_until_done(task: asyncio.Task[dict[str, Any]]) -> None:
    """Cancel `task`, and again each second until it has ended (see `receive`)."""
    if task.done():
        if not task.cancelled():
            task.exception()  # retrieved: nobody waits for it any more
        return
    task.cancel()
    asyncio.get_running_loop().call_later(CANCEL_AGAIN_SECONDS, _cancel_until_done, task)
