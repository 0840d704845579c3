"""GET /metrics: the stack in Prometheus's text format, read from shared state at scrape time.

Whichever web process answers, the figures are the whole deployment's: every number
comes from Redis (or is this process's own, labelled with it), never from a counter that
lives in one process only.

  starter_tasks_started_total{name}          task executions begun (Celery's task_prerun;
                                             a retried task begins again)
  starter_tasks_ended_total{name,state}      ends: SUCCESS, FAILURE (task_postrun) and
                                             REVOKED (task_revoked); a hard time limit
                                             that kills the pool process is not seen here
  starter_queue_waiting{queue}               tracked tasks waiting in each queue
  starter_queue_messages{queue}              the broker's messages in each queue (Redis broker)
  starter_workers_online                     workers with a fresh heartbeat
  starter_history_waiting                    task records waiting in Redis for the database
  starter_web_sockets{process}               open progress WebSockets, per web process
  starter_web_messages_sent_total{process}   texts written to those sockets
  starter_web_messages_skipped_total{process}  texts a newer one replaced before a slow
                                             socket took them (latest wins)
  starter_metrics_source_up{source}          1 when that source (redis, queues) answered

The task counters are two Redis hashes that the workers increment (diagnostics/task_counts.py);
each web process writes its socket counts to a Redis hash every
WEB_STATS_EVERY seconds (`start_web_stats`, called by django_starter/asgi.py), and a
process silent for WEB_STATS_GONE_AFTER seconds is left out.

Who may read it: anyone under DEBUG; in production a client on loopback (not through a
proxy: a request that carries X-Forwarded-For, Forwarded or X-Real-IP is not), or one
sending `Authorization: Bearer <METRICS_TOKEN>`; anyone else gets 403.

Prometheus scrape config (prometheus.yml), for a deployment reached over the network:

    scrape_configs:
      - job_name: django-starter
        metrics_path: /metrics
        authorization:
          type: Bearer
          credentials_file: /etc/prometheus/django-starter-token   # METRICS_TOKEN
        static_configs:
          - targets: ["app.example.com:8001"]
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from live_progress.store.client import get_redis
from live_progress.store.snapshots import history_key
from live_progress.store.workers import redis_clock, workers_online
from live_progress.web.hub import stats as hub_stats

from .queues import broker_lengths, queue_for, waiting
from .task_counts import ENDED_KEY, STARTED_KEY

logger = logging.getLogger(__name__)

WEB_KEY = "starter:metrics:web"  # hash: "<host>:<pid>" -> JSON of its counts and time
WEB_STATS_EVERY = 5.0
WEB_STATS_GONE_AFTER = 3 * WEB_STATS_EVERY
PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


# --- each web process tells its socket counts -------------------------------------------
_publisher: threading.Thread | None = None


def process_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def publish_web_stats() -> None:
    """Write this process's socket counts to Redis, stamped with Redis's clock."""
    redis = get_redis()
    counts = {
        "sockets": hub_stats.sockets,
        "sent": hub_stats.sent,
        "skipped": hub_stats.skipped,
        "at": redis_clock.now(redis),
    }
    redis.hset(WEB_KEY, process_name(), json.dumps(counts))


def _publish_forever() -> None:
    while True:
        try:
            publish_web_stats()
        except Exception:  # Redis away: try again next time
            logger.debug("could not publish the web process's counts", exc_info=True)
        time.sleep(WEB_STATS_EVERY)


def start_web_stats() -> None:
    """In a web process: publish its socket counts every WEB_STATS_EVERY seconds (a thread)."""
    global _publisher
    if _publisher is None or not _publisher.is_alive():
        _publisher = threading.Thread(target=_publish_forever, name="metrics-web", daemon=True)
        _publisher.start()


# --- the scrape ---------------------------------------------------------------------------
class StackCollector(Collector):
    """Everything above, read at each scrape (a handful of Redis calls)."""

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(
            "starter_metrics_source_up", "1 when the source answered this scrape", labels=["source"]
        )
        for source, read in (("redis", self._from_redis), ("queues", self._queues)):
            try:
                yield from list(read())
                up.add_metric([source], 1)
            except Exception:
                logger.warning("metrics: %s did not answer", source, exc_info=True)
                up.add_metric([source], 0)
        yield up

    def _from_redis(self) -> Iterable[Metric]:
        redis = get_redis()
        with redis.pipeline(transaction=False) as pipe:
            pipe.hgetall(STARTED_KEY)
            pipe.hgetall(ENDED_KEY)
            pipe.hgetall(WEB_KEY)
            pipe.llen(history_key())
            started, ended, web, history = pipe.execute()
        now = redis_clock.now(redis)

        metric = CounterMetricFamily(
            "starter_tasks_started", "Task executions begun, by task name", labels=["name"]
        )
        for name, count in sorted(started.items()):
            metric.add_metric([name], int(count))
        yield metric
        metric = CounterMetricFamily(
            "starter_tasks_ended", "Tasks ended, by task name and state", labels=["name", "state"]
        )
        for field, count in sorted(ended.items()):
            state, _, name = field.partition(" ")
            metric.add_metric([name, state], int(count))
        yield metric
        yield GaugeMetricFamily(
            "starter_workers_online", "Workers with a fresh heartbeat", value=workers_online(redis)
        )
        yield GaugeMetricFamily(
            "starter_history_waiting",
            "Task records waiting in Redis to be written to the database",
            value=int(history),
        )
        yield from self._web(web, now, redis)

    @staticmethod
    def _web(web: dict[str, str], now: float, redis: Any) -> Iterable[Metric]:
        sockets = GaugeMetricFamily(
            "starter_web_sockets", "Open progress WebSockets", labels=["process"]
        )
        sent = CounterMetricFamily(
            "starter_web_messages_sent", "Texts written to progress sockets", labels=["process"]
        )
        skipped = CounterMetricFamily(
            "starter_web_messages_skipped",
            "Texts replaced by a newer one before a slow socket took them",
            labels=["process"],
        )
        counts = {name: json.loads(raw) for name, raw in web.items()}
        gone = [name for name, seen in counts.items() if now - seen["at"] > WEB_STATS_GONE_AFTER]
        if gone:
            redis.hdel(WEB_KEY, *gone)
        # This process's own counts are the freshest.
        counts[process_name()] = {
            "sockets": hub_stats.sockets,
            "sent": hub_stats.sent,
            "skipped": hub_stats.skipped,
        }
        for name, seen in sorted(counts.items()):
            if name in gone:
                continue
            sockets.add_metric([name], seen["sockets"])
            sent.add_metric([name], seen["sent"])
            skipped.add_metric([name], seen["skipped"])
        yield from (sockets, sent, skipped)

    @staticmethod
    def _queues() -> Iterable[Metric]:
        from .checks import broker_is_redis, our_tasks

        redis = get_redis()
        queues = sorted({queue_for(name) for name in our_tasks()})
        tracked = GaugeMetricFamily(
            "starter_queue_waiting", "Tracked tasks waiting in the queue", labels=["queue"]
        )
        for queue, count in waiting(redis, queues).items():
            tracked.add_metric([queue], count)
        yield tracked
        if broker_is_redis():
            messages = GaugeMetricFamily(
                "starter_queue_messages", "Messages in the broker's queue", labels=["queue"]
            )
            for queue, count in broker_lengths(redis, queues).items():
                messages.add_metric([queue], count)
            yield messages


_registry = CollectorRegistry(auto_describe=False)
_registry.register(StackCollector())


# --- who may read it ----------------------------------------------------------------------
def from_loopback(request: HttpRequest) -> bool:
    """The client is this host itself, and no proxy stands between (it would be loopback too)."""
    if any(header in request.META for header in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(request.META.get("REMOTE_ADDR") or "").is_loopback
    except ValueError:
        return False


def has_token(request: HttpRequest) -> bool:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return (
        bool(token)
        and scheme.lower() == "bearer"
        and hmac.compare_digest(given.strip().encode(), token.encode())
    )


def may_read(request: HttpRequest) -> bool:
    return bool(settings.DEBUG) or from_loopback(request) or has_token(request)


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    """The metrics above, or 403."""
    if not may_read(request):
        error = "metrics: from loopback, or with Authorization: Bearer <METRICS_TOKEN>"
        return JsonResponse({"error": error}, status=403)
    return HttpResponse(generate_latest(_registry), content_type=CONTENT_TYPE_LATEST)
