"""diagnostics/beat.py: beat's heartbeat as doctor and /health/ read it, on the test Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import redis

from diagnostics.beat import BEAT_GONE_AFTER, BEAT_KEY
from diagnostics.checks import OK, WARN, check_beat
from live_progress.store.workers import redis_clock


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    """The test Redis, without a beat heartbeat before or after the test."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.delete(BEAT_KEY)
    yield client
    client.delete(BEAT_KEY)
    client.close()


def tick(client: redis.Redis, *, seconds_ago: float) -> None:
    """What beat's heartbeat thread writes, `seconds_ago` on Redis's clock."""
    now = redis_clock.now(client)
    client.set(BEAT_KEY, json.dumps({"host": "web-1", "pid": 42, "tick": now - seconds_ago}))


def test_a_beat_never_seen_is_a_warning_with_the_command_that_starts_it(
    client: redis.Redis,
) -> None:
    check = check_beat(client)
    assert check.status == WARN
    assert check.summary == "beat is not running (never seen): periodic tasks are not sent"
    assert check.fix == "celery -A django_starter beat -l info"
    assert check.as_json()["running"] is False


def test_a_recent_tick_means_beat_runs_and_says_where(client: redis.Redis) -> None:
    tick(client, seconds_ago=1)
    check = check_beat(client)
    assert check.status == OK
    assert check.summary.startswith("beat runs on web-1 (pid 42), last tick 1.")
    assert check.as_json()["running"] is True


def test_a_beat_silent_for_three_ticks_is_gone_and_says_since_when(client: redis.Redis) -> None:
    tick(client, seconds_ago=BEAT_GONE_AFTER + 60)
    check = check_beat(client)
    assert check.status == WARN
    assert check.summary.startswith("beat is not running (last tick 6")
    assert check.as_json()["seconds_since_tick"] >= 60
