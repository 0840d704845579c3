"""kombu's Redis transport, with one change: a task given back to the queue runs next.

When a pool process dies mid-task (killed, out of memory), Celery rejects the task's
message with `requeue=True` (`task_reject_on_worker_lost`), and kombu's Redis transport
pushes it to the end that workers take from last: behind a long queue the interrupted
task waits for every task sent after it, its bar frozen half way. Message priorities
cannot help, as the message goes back with the priority it was sent with. Here it goes
back to the head, where a message whose visibility timeout ran out is put back too.
Only once: a message that was already given back before goes to the tail, so a task that
kills its process every time cannot keep the workers from the rest of the queue.

Use it with `CELERY_BROKER_TRANSPORT = "django_starter.broker:Transport"` for a `redis://`
broker URL; everything else is kombu's.
"""

from __future__ import annotations

from typing import Any

from kombu.transport import redis
from kombu.utils.encoding import bytes_to_str
from kombu.utils.json import loads


class QoS(redis.QoS):
    """Requeues a rejected message at the head of its queue (kombu puts it at the tail)."""

    def reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        if not requeue:
            super().reject(delivery_tag, requeue=False)
            return
        # leftmost: the tail (kombu's own choice); else the end BRPOP takes first.
        self.restore_by_tag(delivery_tag, leftmost=self._given_back_before(delivery_tag))
        super(redis.QoS, self).ack(delivery_tag)

    def _given_back_before(self, delivery_tag: Any) -> bool:
        with self.channel.conn_or_acquire() as client:  # type: ignore[attr-defined]
            raw = client.hget(self.unacked_key, delivery_tag)
        if not raw:
            return False
        payload = loads(bytes_to_str(raw))[0]
        return bool((payload.get("headers") or {}).get("redelivered"))


class Channel(redis.Channel):
    """kombu's Redis channel with the QoS above."""

    QoS = QoS


class Transport(redis.Transport):
    """kombu's Redis transport with the channel above."""

    Channel = Channel
