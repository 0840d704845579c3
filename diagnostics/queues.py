"""Queue positions: the tasks we sent, per queue, in the order they wait.

Each tracked task (sent by `progress.start`, so its message carries the tracking
header) is added to a sorted set of its queue, scored by Redis's own clock, just
before it is published (Celery's before_task_publish); the worker removes it when
the task starts (task_prerun) or is discarded as revoked; untracked tasks cost
nothing. A waiting task's position is then one ZRANK: how many tasks wait ahead of
it, whoever started them. Entries older than PROGRESS_SNAPSHOT_TTL are trimmed, so a
lost message cannot inflate positions for ever.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from celery import current_app, signals
from celery.utils.objects import Bunch
from django.conf import settings

from progress.redis_client import get_redis
from progress.tracking import tracking

if TYPE_CHECKING:
    from redis import Redis

logger = logging.getLogger(__name__)

QUEUED_KEY = "starter:queued:{queue}"

# KEYS[1] the queue's sorted set; ARGV[1] task id; ARGV[2] seconds to keep entries.
_ENQUEUE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]) * 1000000)
redis.call('EXPIRE', KEYS[1], ARGV[2])
return now
"""

# kombu's Redis transport keeps one list per queue and priority step (0 is the bare name).
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (0, 3, 6, 9)


def queue_for(task_name: str) -> str:
    """The queue Celery routes `task_name` to (task_routes, else the default queue)."""
    route = current_app.amqp.router.route({}, task_name)
    return str(route["queue"].name)


def queued_key(queue: str) -> str:
    return QUEUED_KEY.format(queue=queue)


def enqueue(*, task_id: str, queue: str) -> None:
    """Count a task as waiting in `queue`; call it before sending the task to the broker."""
    get_redis().eval(_ENQUEUE, 1, queued_key(queue), task_id, settings.PROGRESS_SNAPSHOT_TTL)


def dequeue(*, task_id: str, queues: set[str]) -> None:
    """The task left its queue (it started, or was discarded)."""
    redis = get_redis()
    with redis.pipeline(transaction=False) as pipe:
        for queue in queues:
            pipe.zrem(queued_key(queue), task_id)
        pipe.execute()


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


@signals.before_task_publish.connect
def on_before_task_publish(
    headers: dict[str, Any] | None = None, routing_key: str | None = None, **_: Any
) -> None:
    if not headers or tracking(headers) is None or not headers.get("id"):
        return
    queue = routing_key or queue_for(str(headers.get("task")))
    enqueue(task_id=str(headers["id"]), queue=queue)


def _left_queue(request: Any, task_name: str | None) -> None:
    task_id = getattr(request, "id", None)
    if not task_id:
        return
    delivery = getattr(request, "delivery_info", None) or {}
    queues = {delivery.get("routing_key") or current_app.conf.task_default_queue}
    if task_name:
        queues.add(queue_for(task_name))
    try:
        dequeue(task_id=task_id, queues=queues)
    except Exception:  # Redis away: the entry ages out; never break the task for this
        logger.warning("could not take task %s off its queue list", task_id, exc_info=True)


@signals.task_prerun.connect
def on_task_prerun(sender: Any = None, **_: Any) -> None:
    request = getattr(sender, "request", None)
    if tracking(request) is not None:
        _left_queue(request, getattr(sender, "name", None))


@signals.task_revoked.connect
def on_task_revoked(request: Any = None, sender: Any = None, **_: Any) -> None:
    if tracking(getattr(request, "request_dict", None)) is not None:
        _left_queue(request, getattr(sender, "name", None))


@signals.task_unknown.connect
def on_task_unknown(
    message: Any = None, name: str | None = None, id: str | None = None, **_: Any
) -> None:
    # Dropped by the worker: it no longer waits anywhere.
    if tracking(getattr(message, "headers", None)) is None:
        return
    routing_key = (getattr(message, "delivery_info", None) or {}).get("routing_key")
    _left_queue(Bunch(id=id, delivery_info={"routing_key": routing_key}), name)
