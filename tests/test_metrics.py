"""GET /metrics: Prometheus's text format, counts from shared state, and who may read it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pytest_django.fixtures import Settings

from diagnostics import metrics, web_stats
from live_progress.store.client import get_redis
from live_progress.store.workers import redis_clock
from live_progress.web.stats import DELAY_BUCKETS
from tests.support.live import cookie_header, follow, start_task
from tests.support.processes import wait_for

pytestmark = [pytest.mark.django_db]

FAMILIES = {
    "starter_tasks_started",
    "starter_tasks_ended",
    "starter_workers_online",
    "starter_history_waiting",
    "starter_history_dead",
    "starter_tasks_waited_seconds",
    "starter_socket_delay_seconds",
    "starter_web_sockets",
    "starter_web_messages_sent",
    "starter_web_messages_skipped",
    "starter_queue_waiting",
    "starter_queue_messages",
    "starter_metrics_source_up",
}


def samples(text: str) -> list[Sample]:
    return [s for family in text_string_to_metric_families(text) for s in family.samples]


def value(text: str, metric: str, /, **labels: str) -> float:
    """The sample's value (0 when there is none yet: a counter not yet incremented)."""
    for sample in samples(text):
        if sample.name == metric and all(sample.labels.get(k) == v for k, v in labels.items()):
            return sample.value
    return 0.0


@pytest.fixture
def production(settings: Settings) -> Iterator[Settings]:
    settings.DEBUG = False
    settings.METRICS_TOKEN = "s3cret-token"
    yield settings


def test_the_text_parses_and_has_every_family() -> None:
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    text = response.content.decode()
    families = {family.name for family in text_string_to_metric_families(text)}
    assert families >= FAMILIES, FAMILIES - families
    assert value(text, "starter_metrics_source_up", source="redis") == 1
    assert value(text, "starter_metrics_source_up", source="queues") == 1


def test_anonymous_from_the_network_is_refused_in_production(production: Settings) -> None:
    outside = Client(REMOTE_ADDR="10.0.0.5")
    refused = outside.get("/metrics")
    assert refused.status_code == 403 and "error" in refused.json()
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outside.get("/metrics", HTTP_AUTHORIZATION="s3cret-token").status_code == 403
    allowed = outside.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
    assert allowed.status_code == 200 and b"starter_tasks_started" in allowed.content


def test_loopback_is_answered_unless_a_proxy_forwarded_it(production: Settings) -> None:
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200
    assert Client(REMOTE_ADDR="::1").get("/metrics").status_code == 200
    proxied = Client(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert proxied.get("/metrics").status_code == 403


def test_no_token_set_means_no_token_works(production: Settings) -> None:
    production.METRICS_TOKEN = ""
    outside = Client(REMOTE_ADDR="10.0.0.5")
    assert outside.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 403


def test_redis_away_is_a_source_down_not_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    def away() -> None:
        raise ConnectionError("Redis is away")

    monkeypatch.setattr(metrics, "get_redis", away)
    response = Client().get("/metrics")
    assert response.status_code == 200
    assert value(response.content.decode(), "starter_metrics_source_up", source="redis") == 0


def other_web_processes(redis: Any) -> list[dict[str, Any]]:
    """The counts of the live web processes on this Redis other than this test's process and
    the two it writes (a session's Daphne that an earlier test started publishes its own)."""
    mine = {"otherhost:1", "otherhost:2", web_stats.process_name()}
    raw = {
        name: text for name, text in redis.hgetall(web_stats.WEB_KEY).items() if name not in mine
    }
    live = web_stats.web_counts(raw, redis_clock.now(redis), redis)
    return [counts for name, counts in live.items() if name not in mine]


def test_every_web_process_counts_and_a_silent_one_is_left_out() -> None:
    redis = get_redis()
    now = redis_clock.now(redis)
    delays = [0] * (len(DELAY_BUCKETS) + 1)
    delays[0], delays[3], delays[-1] = 5, 2, 1  # <= 1 ms, <= 10 ms, over 10 s
    other = {"sockets": 7, "sent": 70, "skipped": 3, "delays": delays, "delay_sum": 12.5}
    gone = {"sockets": 1, "sent": 1, "skipped": 0, "delays": delays, "delay_sum": 99.0}
    redis.hset(web_stats.WEB_KEY, "otherhost:1", json.dumps({**other, "at": now}))
    stale = now - 10 * web_stats.WEB_STATS_EVERY
    redis.hset(web_stats.WEB_KEY, "otherhost:2", json.dumps({**gone, "at": stale}))
    try:

        def metrics_text() -> tuple[str, list[dict[str, Any]]] | None:
            """/metrics, with what the others counted: the same before and after it."""
            before = other_web_processes(redis)
            text = Client().get("/metrics").content.decode()
            return (text, before) if other_web_processes(redis) == before else None

        text, others = wait_for(metrics_text, what="/metrics while no other process counts")
        own = web_stats.own_counts()
        assert value(text, "starter_web_sockets", process="otherhost:1") == 7
        assert value(text, "starter_web_messages_sent_total", process="otherhost:1") == 70
        assert value(text, "starter_web_messages_skipped_total", process="otherhost:1") == 3
        assert value(text, "starter_web_sockets", process=web_stats.process_name()) >= 0
        assert "otherhost:2" not in text
        assert not redis.hexists(web_stats.WEB_KEY, "otherhost:2")
        # The delay histogram sums the live processes (this one's own counts included).
        live = [own, *others]
        counted = [sum(o["delays"][i] for o in live) for i in range(len(own["delays"]))]
        counted_sum = sum(o["delay_sum"] for o in live)
        name = "starter_socket_delay_seconds"
        assert value(text, f"{name}_bucket", le="0.001") == 5 + counted[0]
        assert value(text, f"{name}_bucket", le="0.01") == 7 + sum(counted[:4])
        assert value(text, f"{name}_bucket", le="+Inf") == 8 + sum(counted)
        assert value(text, f"{name}_count") == 8 + sum(counted)
        assert value(text, f"{name}_sum") == pytest.approx(12.5 + counted_sum)
    finally:
        redis.hdel(web_stats.WEB_KEY, "otherhost:1", "otherhost:2")


@pytest.mark.slow  # the session's live server and worker
async def test_a_task_run_end_to_end_is_counted(live_server_url: str, worker: object) -> None:
    name = "django_starter.tasks.long_running_task"
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        before = (await client.get("/metrics")).text
        started = await start_task(client, task="long_running_task", kwargs={"steps": 3})
        watch = await follow(live_server_url, started["ws_url"], cookie=cookie_header(client))
        assert watch.messages[-1]["state"] == "SUCCESS"
        deadline = time.monotonic() + 10
        while True:  # the worker counts the end just after it published SUCCESS
            after = (await client.get("/metrics")).text
            ended = value(after, "starter_tasks_ended_total", name=name, state="SUCCESS")
            if ended > value(before, "starter_tasks_ended_total", name=name, state="SUCCESS"):
                break
            assert time.monotonic() < deadline, after
            await asyncio.sleep(0.2)
    assert value(after, "starter_tasks_started_total", name=name) == (
        value(before, "starter_tasks_started_total", name=name) + 1
    )
    assert value(after, "starter_tasks_ended_total", name=name, state="SUCCESS") == (
        value(before, "starter_tasks_ended_total", name=name, state="SUCCESS") + 1
    )
    assert value(after, "starter_workers_online") >= 1
    sent = sum(s.value for s in samples(after) if s.name == "starter_web_messages_sent_total")
    assert sent >= len(watch.messages)
    # It waited in its queue once; every change after the first snapshot reached the
    # socket with its delay measured (the first one is a read, not a change).
    waited = "starter_tasks_waited_seconds_count"
    assert value(after, waited) == value(before, waited) + 1
    delays = "starter_socket_delay_seconds_count"
    first = watch.messages[0]["seq"]
    changes = len({m["seq"] for m in watch.messages if m["seq"] > first})
    assert changes >= 1
    assert value(before, delays) + changes <= value(after, delays)
