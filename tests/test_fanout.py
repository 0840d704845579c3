"""Many sockets on one live Daphne: every one gets its snapshot and its end, none a false 4503."""

from __future__ import annotations

import asyncio
import itertools
import json
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.support.live import cookie_header, start_task
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]

SOCKETS = 500


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """A private stack whose owner may open every socket of this test."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = min(hard, max(soft, 4 * SOCKETS + 256))
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))  # Daphne inherits it
    logs: Path = tmp_path_factory.mktemp("fanout-logs")
    with PrivateStack(logs, PROGRESS_MAX_SOCKETS_PER_OWNER=str(SOCKETS + 10)) as stack:
        stack.start_worker()
        yield stack


async def watch(url: str, headers: dict[str, str], seen: list[dict[str, Any]]) -> int | None:
    """Read one socket to its close; returns the close code."""
    async with websockets.connect(url, additional_headers=headers, open_timeout=60) as socket:
        try:
            async for raw in socket:
                seen.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        return socket.close_code


async def test_hundreds_of_sockets_on_one_task_all_see_the_end_and_none_a_false_4503(
    stack: PrivateStack,
) -> None:
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
        started = await start_task(client, kwargs={"steps": 40, "delay": 0.1})
        headers = {"Cookie": cookie_header(client), "Origin": stack.base_url}
    url = stack.base_url.replace("http://", "ws://") + started["ws_url"]
    seen: list[list[dict[str, Any]]] = [[] for _ in range(SOCKETS)]
    async with asyncio.timeout(120):
        codes = await asyncio.gather(*(watch(url, headers, s) for s in seen))
    assert set(codes) == {1000}, f"close codes: {sorted(set(map(str, codes)))}"
    assert all(messages and messages[-1]["state"] == "SUCCESS" for messages in seen)
    live = {"workers_online", "queue_position", "message"}
    for messages in seen:
        seqs = [m["seq"] for m in messages]
        assert seqs == sorted(seqs), "never an older one"
        for before, after in itertools.pairwise(messages):
            if before["seq"] == after["seq"]:  # sent again for its live fields alone
                assert {k: v for k, v in before.items() if k not in live} == {
                    k: v for k, v in after.items() if k not in live
                }
    # One process served them all: every socket got the same final text.
    assert len({json.dumps(messages[-1], sort_keys=True) for messages in seen}) == 1
