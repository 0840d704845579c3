"""GET /metrics: the stack in Prometheus's text format, read from shared state at scrape time.

Whichever web process answers, the figures are the whole deployment's: every number
comes from Redis (or is this process's own, labelled with it), never from a counter that
lives in one process only.

  starter_tasks_started_total{name}          tracked tasks begun (their first state after
                                             PENDING; a retried task begins again)
  starter_tasks_ended_total{name,state}      tracked tasks ended: SUCCESS, FAILURE, REVOKED
  starter_tasks_waited_seconds               histogram: from start() to a worker's first
                                             word (STARTED) of each tracked task
  starter_socket_delay_seconds               histogram: from a change's publication in
                                             Redis to its write on a socket, every socket
  starter_queue_waiting{queue}               tracked tasks waiting in each queue
  starter_queue_messages{queue}              the broker's messages in each queue (Redis broker)
  starter_workers_online                     workers with a fresh heartbeat
  starter_history_waiting                    task records waiting in Redis for the database
  starter_history_dead                       records the database refused (dead letters)
  starter_web_sockets{process}               open progress WebSockets, per web process
  starter_web_messages_sent_total{process}   texts written to those sockets
  starter_web_messages_skipped_total{process}  texts a newer one replaced before a slow
                                             socket took them (latest wins)
  starter_metrics_source_up{source}          1 when that source (redis, queues) answered

The task counts are kept by the store's own scripts in the step that writes each change
(live_progress/store/counts.py): a task pays no extra round trip, and tasks never
started with `progress.start` nor reporting progress are not counted (Flower shows
those). Each web process writes its socket counts and delays to Redis every few seconds
(diagnostics/web_stats.py). The delay is measured between Redis's clock and the web
host's: keep hosts' clocks in sync (NTP) when Redis runs on another machine.

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
import logging
from collections.abc import Iterable, Iterator, Sequence
from itertools import accumulate
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from live_progress.store import counts as task_counts
from live_progress.store.client import get_redis
from live_progress.store.drain import dead_key
from live_progress.store.snapshots import history_key
from live_progress.store.workers import redis_clock, workers_online
from live_progress.web.stats import DELAY_BUCKETS

from .queues import broker_lengths, queue_for, waiting
from .web_stats import WEB_KEY, web_counts

logger = logging.getLogger(__name__)

PROXY_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")


def histogram(
    name: str, documentation: str, bounds: Sequence[float], counts: Sequence[int], total: float
) -> HistogramMetricFamily:
    """A histogram from per-bucket counts (not cumulative; +Inf last)."""
    cumulative = list(accumulate(counts))
    buckets = [(repr(float(b)), n) for b, n in zip(bounds, cumulative, strict=False)]
    buckets.append(("+Inf", cumulative[-1] if cumulative else 0))
    return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=total)


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
            pipe.hgetall(WEB_KEY)
            pipe.llen(history_key())
            pipe.llen(dead_key())
            web, history, dead = pipe.execute()
        now = redis_clock.now(redis)
        yield from self._tasks(task_counts.read())
        yield GaugeMetricFamily(
            "starter_workers_online", "Workers with a fresh heartbeat", value=workers_online(redis)
        )
        yield GaugeMetricFamily(
            "starter_history_waiting",
            "Task records waiting in Redis to be written to the database",
            value=int(history),
        )
        yield GaugeMetricFamily(
            "starter_history_dead", "Task records the database refused", value=int(dead)
        )
        yield from self._web(web_counts(web, now, redis))

    @staticmethod
    def _tasks(counts: task_counts.Counts) -> Iterable[Metric]:
        metric = CounterMetricFamily(
            "starter_tasks_started", "Tracked tasks begun, by task name", labels=["name"]
        )
        for name, count in sorted(counts.started.items()):
            metric.add_metric([name], count)
        yield metric
        metric = CounterMetricFamily(
            "starter_tasks_ended",
            "Tracked tasks ended, by name and state",
            labels=["name", "state"],
        )
        for (name, state), count in sorted(counts.ended.items()):
            metric.add_metric([name, state], count)
        yield metric
        yield histogram(
            "starter_tasks_waited_seconds",
            "From start() to a worker's first word of the task",
            task_counts.WAITED_BUCKETS,
            counts.waited,
            counts.waited_sum,
        )

    @staticmethod
    def _web(counts: dict[str, dict[str, Any]]) -> Iterable[Metric]:
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
        delays = [0] * (len(DELAY_BUCKETS) + 1)
        delay_sum = 0.0
        for name, seen in sorted(counts.items()):
            sockets.add_metric([name], seen["sockets"])
            sent.add_metric([name], seen["sent"])
            skipped.add_metric([name], seen["skipped"])
            for i, n in enumerate(seen.get("delays") or []):
                delays[i] += n
            delay_sum += seen.get("delay_sum", 0.0)
        yield from (sockets, sent, skipped)
        yield histogram(
            "starter_socket_delay_seconds",
            "From a change's publication in Redis to its write on a progress socket",
            DELAY_BUCKETS,
            delays,
            delay_sum,
        )

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
