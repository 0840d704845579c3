"""The whole pipeline through a live Daphne and a real worker: POST → WebSocket → SUCCESS."""

from __future__ import annotations

import httpx
import pytest

from tests.support.live import cookie_header, follow, start_task

pytestmark = [pytest.mark.slow]


async def test_start_task_streams_progress_to_success(live_server_url: str, worker: object) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        started = await start_task(client)
        assert started["state"] == "PENDING"
        assert started["workers_online"] >= 1
        assert started["ws_url"] == f"/ws/progress/{started['task_id']}/"
        assert started["status_url"] == f"/tasks/{started['task_id']}/"

        watch = await follow(live_server_url, started["ws_url"], cookie=cookie_header(client))
        messages = watch.messages

        seqs = [message["seq"] for message in messages]
        assert seqs == sorted(set(seqs)), "seq must strictly increase"
        assert messages[-1]["state"] == "SUCCESS"
        assert messages[-1]["percent"] == 100
        assert messages[-1]["result"]["steps"] == 100
        progress = [m for m in messages if m["state"] == "PROGRESS"]
        assert len(progress) >= 10, "intermediate progress must reach the browser"
        assert all(0 < m["percent"] < 100 or m["current"] == 100 for m in progress)
        assert watch.close_code == 1000

        final = (await client.get(started["status_url"])).json()
        assert final["state"] == "SUCCESS"
        assert final["seq"] == messages[-1]["seq"]


async def test_late_joiner_gets_the_current_snapshot_at_once(
    live_server_url: str, worker: object
) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        started = await start_task(client)
        first = await follow(live_server_url, started["ws_url"], cookie=cookie_header(client))
        assert first.messages[-1]["state"] == "SUCCESS"
        # Connecting after the end: one message, the terminal snapshot, then a close.
        again = await follow(live_server_url, started["ws_url"], cookie=cookie_header(client))
        assert again.states == ["SUCCESS"]
        assert again.close_code == 1000


async def test_other_session_is_refused_on_http_and_websocket(live_server_url: str) -> None:
    async with (
        httpx.AsyncClient(base_url=live_server_url, timeout=10) as owner,
        httpx.AsyncClient(base_url=live_server_url, timeout=10) as stranger,
    ):
        started = await start_task(owner)
        await stranger.get("/")
        response = await stranger.get(started["status_url"])
        assert response.status_code == 404
        assert response.json() == {"error": "No task with this id belongs to you."}
        refused = await follow(live_server_url, started["ws_url"], cookie=cookie_header(stranger))
        assert refused.messages == []
        assert refused.close_code == 4403
