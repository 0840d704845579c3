"""Abuse limits of `progress.start` on a live Daphne: per client address and for everyone.

No worker runs, so every accepted task stays queued and counts; a refused one must leave
nothing in the broker.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import redis

from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]


def post_from_a_fresh_session(base_url: str, forwarded_for: str | None = None) -> httpx.Response:
    """POST /tasks/ as a client that dropped its cookies (a new session every time)."""
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    with httpx.Client(base_url=base_url, timeout=10, headers=headers) as client:
        client.get("/")
        return client.post(
            "/tasks/", data={"steps": "5"}, headers={"X-CSRFToken": client.cookies["csrftoken"]}
        )


def queued_messages(url: str) -> int:
    """Task messages waiting in the broker's queues (Redis lists)."""
    client = redis.Redis.from_url(url)
    try:
        return sum(
            int(client.llen(key))
            for key in client.scan_iter("celery*")
            if client.type(key) == b"list"
        )
    finally:
        client.close()


def test_dropping_the_cookie_does_not_pass_the_per_address_limit(tmp_path: Path) -> None:
    with PrivateStack(
        tmp_path, PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS="3", PROGRESS_MAX_QUEUED="5"
    ) as stack:
        for i in range(3):
            # Without a trusted proxy X-Forwarded-For is the client's word: ignored.
            assert post_from_a_fresh_session(stack.base_url, f"10.0.0.{i}").status_code == 202
        refused = post_from_a_fresh_session(stack.base_url, "10.0.0.99")
        assert refused.status_code == 429
        assert refused.json() == {
            "error": "Your address already has 3 unfinished tasks, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again.",
            "limit": 3,
        }
        assert queued_messages(stack.redis.url) == 3


def test_behind_a_trusted_proxy_each_client_address_counts_and_everyone_is_capped(
    tmp_path: Path,
) -> None:
    with PrivateStack(
        tmp_path,
        DJANGO_BEHIND_PROXY="1",
        PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS="3",
        PROGRESS_MAX_QUEUED="5",
    ) as stack:
        # The proxy appends the address it saw; what the client wrote before it is ignored.
        for i in range(3):
            response = post_from_a_fresh_session(stack.base_url, f"6.6.6.{i}, 192.0.2.1")
            assert response.status_code == 202
        refused = post_from_a_fresh_session(stack.base_url, "192.0.2.1")
        assert (refused.status_code, refused.json()["limit"]) == (429, 3)
        assert post_from_a_fresh_session(stack.base_url, "192.0.2.2").status_code == 202
        assert post_from_a_fresh_session(stack.base_url, "192.0.2.3").status_code == 202
        # Five unfinished tasks in all: the server is full for everyone.
        full = post_from_a_fresh_session(stack.base_url, "192.0.2.4")
        assert full.status_code == 503
        assert full.json() == {
            "error": "The server already has 5 unfinished tasks, the most it takes at once. "
            "Try again in a few minutes.",
            "limit": 5,
        }
        assert queued_messages(stack.redis.url) == 5
