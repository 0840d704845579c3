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
LOST_ERRORS = (OSError, redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)


class ProgressChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    """RedisChannelLayer whose `receive` answers `layer.lost` while Redis is unreachable."""

    async def receive(self, channel: str) -> dict[str, Any]:
        """The next message for `channel`, or `layer.lost` (after a pause) when Redis is away."""
        try:
            message: dict[str, Any] = await super().receive(channel)
        except LOST_ERRORS as error:
            logger.warning("channel layer lost Redis: %s", error)
            await asyncio.sleep(LOST_PAUSE_SECONDS)  # no busy loop while Redis stays away
            return {"type": "layer.lost", "error": str(error)}
        return message
