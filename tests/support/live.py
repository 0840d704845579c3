"""Talking to a live Daphne like the page does: a session, POST /tasks/, a watched WebSocket."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import httpx
import websockets

Snapshot = dict[str, Any]


def cookie_header(client: httpx.AsyncClient) -> str:
    """The client's cookies as one Cookie header (the WebSocket handshake carries them)."""
    return "; ".join(f"{name}={value}" for name, value in client.cookies.items())


async def csrf_headers(client: httpx.AsyncClient) -> dict[str, str]:
    """Load the page once (it sets the CSRF cookie) and return the header the page sends."""
    if "csrftoken" not in client.cookies:
        await client.get("/")
    return {"X-CSRFToken": client.cookies["csrftoken"]}


async def start_task(
    client: httpx.AsyncClient,
    *,
    steps: int | None = None,
    task: str | None = None,
    kwargs: dict[str, Any] | None = None,
) -> Snapshot:
    """POST /tasks/ as the page does (a form post for `steps`, else JSON); asserts the 202."""
    headers = await csrf_headers(client)
    if task is None and kwargs is None:
        data = {"steps": str(steps)} if steps is not None else None
        response = await client.post("/tasks/", data=data, headers=headers)
    else:
        body = {"task": task, "kwargs": kwargs or {}}
        response = await client.post("/tasks/", json=body, headers=headers)
    assert response.status_code == 202, response.text
    return dict(response.json())


async def cancel_task(client: httpx.AsyncClient, task_id: str) -> httpx.Response:
    """POST /tasks/<id>/cancel/ with the CSRF header."""
    return await client.post(f"/tasks/{task_id}/cancel/", headers=await csrf_headers(client))


class Watch:
    """An open WebSocket on one task, collecting every message in the background."""

    def __init__(
        self, base_url: str, ws_url: str, *, cookie: str = "", origin: str | None = None
    ) -> None:
        self.url = base_url.replace("http://", "ws://") + ws_url
        self.headers = {"Cookie": cookie, "Origin": origin or base_url}
        self.messages: list[Snapshot] = []
        self.close_code: int | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Watch:
        self.ws = await websockets.connect(
            self.url, open_timeout=10, additional_headers=self.headers
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.ws.close()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.messages.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.close_code = self.ws.close_code

    @property
    def closed(self) -> bool:
        return self._reader is not None and self._reader.done()

    @property
    def states(self) -> list[str]:
        return [message["state"] for message in self.messages]

    async def wait_for(
        self, predicate: Callable[[Watch], Any], *, timeout: float = 30, what: str = "condition"
    ) -> None:
        """Wait until `predicate(self)` holds; fail with what was seen after `timeout`."""
        deadline = time.monotonic() + timeout
        while not predicate(self):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out waiting for {what}; states seen: {self.states}, "
                    f"close code: {self.close_code}"
                )
            await asyncio.sleep(0.05)

    async def until_closed(self, *, timeout: float = 60) -> None:
        """Wait for the server to close the socket."""
        await self.wait_for(lambda w: w.closed, timeout=timeout, what="the socket to close")


async def follow(base_url: str, ws_url: str, *, cookie: str, timeout: float = 60) -> Watch:
    """Open the task's WebSocket and read every message until the server closes it."""
    async with Watch(base_url, ws_url, cookie=cookie) as watch:
        await watch.until_closed(timeout=timeout)
    return watch


def last_state(watch: Watch) -> str | None:
    """The state of the newest message, if any."""
    return watch.messages[-1]["state"] if watch.messages else None


async def follow_like_the_page(
    base_url: str, ws_url: str, *, cookie: str, until: str = "SUCCESS", timeout: float = 90
) -> list[Watch]:
    """Reconnect as progress.js does (after 4503 or a dropped socket) until state `until`."""
    deadline = time.monotonic() + timeout
    watches: list[Watch] = []
    delay = 0.25
    while time.monotonic() < deadline:
        async with Watch(base_url, ws_url, cookie=cookie) as watch:
            watches.append(watch)
            await watch.wait_for(
                lambda w: w.closed or last_state(w) == until,
                timeout=max(0.1, deadline - time.monotonic()),
                what=f"state {until}",
            )
        if last_state(watch) == until:
            return watches
        assert watch.close_code not in (4403, 4404), f"refused with {watch.close_code}"
        await asyncio.sleep(delay)
        delay = min(5.0, delay * 2)
    raise AssertionError(
        f"no {until} within {timeout}s; close codes: {[w.close_code for w in watches]}; "
        f"last states: {[w.states for w in watches[-2:]]}; last: {watches[-1].messages[-1:]}"
    )
