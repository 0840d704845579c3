"""Queues: where tasks go, how many of ours wait in each, and the broker's own counts.

The order in which tracked tasks wait is kept by the progress store itself: the script
that creates a task's snapshot puts it in its queue's sorted set (on Redis's clock),
and the script that moves it out of PENDING (started, cancelled, never sent) takes it
out, in the same round trip. A waiting task's position is its rank there; untracked
tasks and workers pay nothing for it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from live_progress.store.keys import queued_key
from live_progress.web.live import queue_for as queue_for

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

# kombu's Redis transport keeps one list per queue and priority step (0 is the bare name).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def waiting(redis: Redis, queues: list[str]) -> dict[str, int]:
    """How many of our tasks wait in each queue (one pipelined call)."""
    with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zcard(queued_key(queue))
        counts = pipe.execute()
    return {queue: int(count) for queue, count in zip(queues, counts, strict=True)}


def broker_lengths(redis: Redis, queues: list[str]) -> dict[str, int]:
    """Messages in each queue's broker lists, when the broker is this Redis (one call)."""
    with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            for step in _PRIORITY_STEPS:
                pipe.llen(queue if step == 0 else f"{queue}{_PRIORITY_SEPARATOR}{step}")
        counts = pipe.execute()
    size = len(_PRIORITY_STEPS)
    return {queue: sum(counts[i * size : (i + 1) * size]) for i, queue in enumerate(queues)}


def amqp_lengths(url: str, queues: list[str], *, timeout: float) -> dict[str, int]:
    """Ready messages in each queue of an AMQP broker (RabbitMQ), as the broker counts them.

    A passive declare asks without creating anything; a queue that does not exist yet
    holds nothing. Empty when the broker is not AMQP or does not answer: unknown.
    """
    from kombu import Connection

    lengths: dict[str, int] = {}
    with Connection(url, connect_timeout=timeout) as connection:
        if connection.transport.driver_type != "amqp":
            return {}
        try:
            connection.ensure_connection(max_retries=0)
            for queue in queues:
                channel: Any = connection.channel()  # kombu types it without these calls
                try:
                    lengths[queue] = int(channel.queue_declare(queue, passive=True)[1])
                except connection.channel_errors:  # 404: never declared, so empty
                    lengths[queue] = 0
                finally:
                    channel.close()  # a 404 has closed it already: that is fine
        except Exception:  # the broker check says what is wrong; here it is only unknown
            logger.debug("could not count the messages in %s", queues, exc_info=True)
            return {}
    return lengths
