"""A watcher that reads slowly still gets the task's end from a real Daphne.

The consumer sends the terminal state and closes. A client busy elsewhere (thousands of
sockets on one loop) answers that close late; Daphne's default was to abort the
connection after one second and throw away what it had not sent yet, the end included.
"""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import pytest
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

from live_progress.store import snapshots
from tests.support.live import cookie_header, start_task

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Larger than what the kernel buffers of both ends hold, so most of it is still in
# Daphne's hands when the client takes its time.
RESULT = "x" * 400_000


def open_without_reading(
    base_url: str, path: str, cookie: str
) -> tuple[socket.socket, ClientProtocol]:
    """A WebSocket handshake over a plain socket with a small receive buffer."""
    url = urlsplit(base_url)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((url.hostname or "127.0.0.1", url.port or 80))
    protocol = ClientProtocol(parse_uri(base_url.replace("http", "ws", 1) + path), max_size=None)
    request = protocol.connect()
    request.headers["Origin"] = base_url
    request.headers["Cookie"] = cookie
    protocol.send_request(request)
    sock.sendall(b"".join(protocol.data_to_send()))
    while not any(isinstance(event, Response) for event in protocol.events_received()):
        protocol.receive_data(sock.recv(65536))
    return sock, protocol


def read_to_the_end(sock: socket.socket, protocol: ClientProtocol) -> tuple[list[str], bool]:
    """Every text message until the server closes; whether its close frame arrived."""
    texts: list[str] = []
    closed_cleanly = False
    sock.settimeout(20)
    while True:
        try:
            data = sock.recv(65536)
        except ConnectionResetError:
            return texts, closed_cleanly
        if not data:
            return texts, closed_cleanly
        protocol.receive_data(data)
        for frame in protocol.events_received():
            if not isinstance(frame, Frame):
                continue
            if frame.opcode is Opcode.TEXT:
                texts.append(bytes(frame.data).decode())
            elif frame.opcode is Opcode.CLOSE:
                closed_cleanly = True
        sock.sendall(b"".join(protocol.data_to_send()))


async def test_a_slow_reader_gets_the_end_and_a_clean_close(live_server_url: str) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=30) as client:
        started = await start_task(client, steps=500)
        cookie = cookie_header(client)
    task_id = started["task_id"]
    snapshots.record(task_id, state="SUCCESS", current=500, total=500, result=RESULT)

    sock, protocol = open_without_reading(live_server_url, started["ws_url"], cookie)
    try:
        time.sleep(3)  # the client is busy: three times autobahn's one-second default
        texts, closed_cleanly = read_to_the_end(sock, protocol)
    finally:
        sock.close()

    states = [json.loads(text)["state"] for text in texts]
    assert states == ["SUCCESS"], states
    assert json.loads(texts[-1])["result"] == RESULT
    assert closed_cleanly
