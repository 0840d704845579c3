"""live_progress/web/consumers.py and routing.py: the task's WebSocket, served by Daphne."""

from __future__ import annotations

import json
import urllib.request
import uuid
from http.cookiejar import CookieJar
from typing import Any

import pytest
from processes import Proc
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin


class Browser:
    """One browser session against the live server: its cookies, its CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        with self.opener.open(f"{base_url}/progress/", timeout=10) as response:
            assert response.status == 200

    def cookie(self, name: str) -> str:
        return next(c.value for c in self.jar if c.name == name and c.value is not None)

    def start(self, **kwargs: Any) -> dict[str, Any]:
        request = urllib.request.Request(
            f"{self.base_url}/progress/tasks/",
            data=json.dumps({"task": "count", "kwargs": kwargs}).encode(),
            headers={"Content-Type": "application/json", "X-CSRFToken": self.cookie("csrftoken")},
        )
        with self.opener.open(request, timeout=10) as response:
            assert response.status == 202
            started: dict[str, Any] = json.load(response)
            return started

    def socket(self, path: str, *, origin: str | None = "own") -> ClientConnection:
        ws_url = self.base_url.replace("http://", "ws://") + path
        headers = {"Cookie": "; ".join(f"{c.name}={c.value}" for c in self.jar)}
        return connect(
            ws_url,
            origin=Origin(self.base_url) if origin == "own" else Origin(origin) if origin else None,
            additional_headers=headers,
            open_timeout=10,
        )


def read_to_close(socket: ClientConnection) -> tuple[list[dict[str, Any]], int | None]:
    """Every message until the server closes, and its close code."""
    messages = []
    try:
        while True:
            messages.append(json.loads(socket.recv(timeout=60)))
    except ConnectionClosed as closed:
        return messages, closed.rcvd.code if closed.rcvd else None


def test_the_socket_sends_the_snapshot_then_every_change_then_closes(
    daphne_url: str, worker: Proc
) -> None:
    browser = Browser(daphne_url)
    started = browser.start(steps=20, delay=0.05)
    with browser.socket(started["ws_url"]) as socket:
        messages, code = read_to_close(socket)
    assert code == 1000
    assert messages, "no snapshot was sent"
    assert {m["task_id"] for m in messages} == {started["task_id"]}
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))
    assert messages[-1]["state"] == "SUCCESS"
    assert messages[-1]["percent"] == 100
    assert "PROGRESS" in {m["state"] for m in messages}
    assert all(m["workers_online"] >= 1 for m in messages)


def test_a_late_socket_gets_the_final_snapshot_at_once(daphne_url: str, worker: Proc) -> None:
    browser = Browser(daphne_url)
    started = browser.start(steps=1, delay=0)
    with browser.socket(started["ws_url"]) as socket:
        read_to_close(socket)
    with browser.socket(started["ws_url"]) as socket:
        messages, code = read_to_close(socket)
    assert [m["state"] for m in messages] == ["SUCCESS"]
    assert code == 1000


@pytest.mark.parametrize("origin", ["elsewhere", "another port", "another scheme", "none"])
def test_a_foreign_or_missing_origin_is_refused_at_the_handshake(
    daphne_url: str, worker: Proc, origin: str
) -> None:
    browser = Browser(daphne_url)
    started = browser.start(steps=1)
    header = {
        "elsewhere": "http://evil.example",
        "another port": "http://127.0.0.1:1",
        "another scheme": daphne_url.replace("http://", "https://"),
        "none": None,
    }[origin]
    with pytest.raises(InvalidStatus) as refused:
        browser.socket(started["ws_url"], origin=header)
    assert refused.value.response.status_code == 403


@pytest.mark.parametrize("task_id", [str(uuid.uuid4()), "not-an-id", "x" * 300, "%2e%2e", "0" * 36])
def test_an_unknown_task_is_closed_4404_with_nothing_sent(daphne_url: str, task_id: str) -> None:
    with Browser(daphne_url).socket(f"/ws/progress/{task_id}/") as socket:
        messages, code = read_to_close(socket)
    assert (messages, code) == ([], 4404)


def test_another_browsers_task_is_closed_4403_with_nothing_sent(
    daphne_url: str, worker: Proc
) -> None:
    started = Browser(daphne_url).start(steps=1)
    with Browser(daphne_url).socket(started["ws_url"]) as socket:
        messages, code = read_to_close(socket)
    assert (messages, code) == ([], 4403)


def test_a_socket_with_no_session_at_all_is_closed_4403_with_nothing_sent(
    daphne_url: str, worker: Proc
) -> None:
    started = Browser(daphne_url).start(steps=1)
    ws_url = daphne_url.replace("http://", "ws://") + started["ws_url"]
    with connect(ws_url, origin=Origin(daphne_url), open_timeout=10) as socket:  # no cookie
        messages, code = read_to_close(socket)
    assert (messages, code) == ([], 4403)


def test_any_other_websocket_path_is_refused_at_the_handshake(daphne_url: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        Browser(daphne_url).socket("/ws/elsewhere/")
    assert refused.value.response.status_code == 403
