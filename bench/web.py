"""HTTP and WebSocket figures through the live Daphne: POST /tasks/, first message, /health/."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import websockets

from live_progress.store import snapshots


@asynccontextmanager
async def browser(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client with a session and a CSRF cookie, as after loading the page."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.get("/")
        response.raise_for_status()
        yield client


def cookie_header(client: httpx.AsyncClient) -> str:
    """The client's cookies as one Cookie header (for the WebSocket handshake)."""
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


def connect_ws(base_url: str, task_id: str, cookie: str) -> Any:
    """Open /ws/progress/<task_id>/ as the browser would (its cookie, its Origin)."""
    url = base_url.replace("http://", "ws://") + f"/ws/progress/{task_id}/"
    return websockets.connect(
        url,
        open_timeout=10,
        max_size=None,
        additional_headers={"Cookie": cookie, "Origin": base_url},
    )


async def post_task(client: httpx.AsyncClient) -> dict[str, Any]:
    """POST /tasks/ (long_running_task, its default arguments) and return its 202 JSON."""
    response = await client.post(
        "/tasks/",
        data={"task": "long_running_task"},
        headers={"X-CSRFToken": client.cookies["csrftoken"]},
    )
    if response.status_code != 202:
        raise RuntimeError(f"POST /tasks/ answered {response.status_code}: {response.text}")
    return dict(response.json())


async def post_latency(base_url: str, count: int) -> tuple[list[float], str, str]:
    """Sequential POSTs from one session: durations, and that session's owner and cookie."""
    durations = []
    async with browser(base_url) as client:
        task_id = ""
        for _ in range(count):
            started = time.perf_counter()
            task_id = (await post_task(client))["task_id"]
            durations.append(time.perf_counter() - started)
        stored = snapshots.read(task_id=task_id)
        if stored is None:
            raise RuntimeError(f"no snapshot for the task just POSTed: {task_id}")
        owner = str(stored["owner"])
        return durations, owner, cookie_header(client)


async def post_throughput(base_url: str, total: int, clients: int) -> tuple[float, list[float]]:
    """`clients` sessions POSTing at once until `total` are done: requests/s and durations."""
    durations: list[float] = []
    remaining = total

    async def one_client() -> None:
        nonlocal remaining
        async with browser(base_url) as client:
            await post_task(client)  # first POST creates the session's owner: not timed
            await ready.wait()
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                await post_task(client)
                durations.append(time.perf_counter() - started)

    ready = asyncio.Event()
    runners = [asyncio.create_task(one_client()) for _ in range(clients)]
    await asyncio.sleep(0.5)  # let every session load the page first
    started = time.perf_counter()
    ready.set()
    await asyncio.gather(*runners)
    return len(durations) / (time.perf_counter() - started), durations


async def post_to_first_message(base_url: str, count: int) -> tuple[list[float], set[str]]:
    """POST /tasks/, then open its WebSocket: time until the first snapshot arrives."""
    durations = []
    states = set()
    async with browser(base_url) as client:
        for _ in range(count):
            started = time.perf_counter()
            data = await post_task(client)  # the first POST gives the session its cookie
            async with connect_ws(base_url, data["task_id"], cookie_header(client)) as ws:
                first = json.loads(await asyncio.wait_for(ws.recv(), 10))
                durations.append(time.perf_counter() - started)
                states.add(first["state"])
    return durations, states


async def health_latency(base_url: str, count: int) -> tuple[list[float], dict[str, Any]]:
    """Sequential GET /health/: durations and the last report."""
    durations = []
    report: dict[str, Any] = {}
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = await client.get("/health/")
            durations.append(time.perf_counter() - started)
            report = dict(response.json())
    return durations, report
