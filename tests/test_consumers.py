"""ProgressConsumer through the real ASGI stack (origins, sessions) and the real channel layer."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore

from django_starter.asgi import application
from progress import broadcast, store
from progress.services import SESSION_OWNER_KEY
from tests.support.expected import LIVE_SNAPSHOT_FIELDS

pytestmark = [pytest.mark.django_db(transaction=True)]


def session_cookie(token: str) -> bytes:
    session = SessionStore()
    session[SESSION_OWNER_KEY] = token
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def communicator(
    task_id: str, cookie: bytes | None = None, origin: bytes = b"http://localhost"
) -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"localhost")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/progress/{task_id}/", headers=headers)


async def own_task(token: str) -> str:
    task_id = str(uuid.uuid4())
    await sync_to_async(store.create)(task_id=task_id, owner=f"session:{token}")
    return task_id


async def closed_with(comm: WebsocketCommunicator) -> int:
    output: dict[str, Any] = await comm.receive_output(timeout=5)
    assert output["type"] == "websocket.close", f"expected a close, got {output}"
    return int(output.get("code", 1000))


async def watch_own_task(token: str) -> tuple[WebsocketCommunicator, str, dict[str, Any]]:
    """The owner `token` connects to a new task of theirs; returns the first snapshot too."""
    cookie = await sync_cookie(token)
    task_id = await own_task(token)
    comm = communicator(task_id, cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    first: dict[str, Any] = await comm.receive_json_from(timeout=5)
    return comm, task_id, first


async def test_owner_gets_the_snapshot_at_once() -> None:
    comm, task_id, first = await watch_own_task("owner-a")
    assert first["task_id"] == task_id
    assert first["state"] == "PENDING"
    assert first["seq"] == 1
    assert set(first) >= LIVE_SNAPSHOT_FIELDS
    await comm.disconnect()


async def test_changes_are_pushed_and_a_terminal_state_closes_the_socket() -> None:
    comm, task_id, _ = await watch_own_task("owner-b")
    await publish(task_id, state="PROGRESS", current=40, total=100)
    progress = await comm.receive_json_from(timeout=5)
    assert (progress["state"], progress["percent"], progress["seq"]) == ("PROGRESS", 40, 2)
    await publish(task_id, state="SUCCESS", current=100, total=100, result={"ok": True})
    done = await comm.receive_json_from(timeout=5)
    assert (done["state"], done["result"], done["seq"]) == ("SUCCESS", {"ok": True}, 3)
    assert await closed_with(comm) == 1000


async def test_an_older_message_is_dropped() -> None:
    comm, task_id, _ = await watch_own_task("owner-c")
    newer = await publish(task_id, state="PROGRESS", current=60, total=100)
    assert (await comm.receive_json_from(timeout=5))["seq"] == newer["seq"]
    stale = {**newer, "seq": newer["seq"] - 1, "current": 10, "percent": 10}
    await get_channel_layer().group_send(
        broadcast.group_name(task_id), {"type": "progress.update", "snapshot": stale}
    )
    assert await comm.receive_nothing(timeout=0.5)
    await comm.disconnect()


async def test_unknown_task_is_refused_with_4404_and_no_snapshot() -> None:
    cookie = await sync_cookie("owner-d")
    comm = communicator(str(uuid.uuid4()), cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    assert await closed_with(comm) == 4404


@pytest.mark.parametrize("task_id", ["not-a-uuid", "x" * 300, "%2e%2e", "0" * 36])
async def test_malformed_task_id_is_refused_with_4404(task_id: str) -> None:
    comm = communicator(task_id)
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4404


async def test_foreign_task_is_refused_with_4403_and_no_snapshot() -> None:
    task_id = await own_task("owner-e")
    comm = communicator(task_id, await sync_cookie("stranger"))
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4403


async def test_a_refused_reader_receives_nothing_after_the_close() -> None:
    task_id = await own_task("owner-h")
    comm = communicator(task_id, await sync_cookie("stranger-h"))
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4403
    await publish(task_id, state="PROGRESS", current=50, total=100)
    assert await comm.receive_nothing(timeout=0.5)


async def test_a_lost_group_message_is_caught_up_from_the_store() -> None:
    cookie = await sync_cookie("owner-i")
    task_id = await own_task("owner-i")
    comm = communicator(task_id, cookie)
    await comm.connect(timeout=5)
    assert (await comm.receive_json_from(timeout=5))["seq"] == 1
    # Written to the store but never sent to the group (as when channels_redis drops a
    # message at capacity): the socket still gets it, and closes on the terminal state.
    await sync_to_async(store.update)(task_id=task_id, state="SUCCESS", current=100, total=100)
    caught_up = await comm.receive_json_from(timeout=5)
    assert (caught_up["state"], caught_up["seq"]) == ("SUCCESS", 2)
    assert await closed_with(comm) == 1000


async def test_no_session_at_all_is_refused() -> None:
    task_id = await own_task("owner-f")
    comm = communicator(task_id, cookie=None)
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4403


async def test_foreign_origin_is_denied_at_the_handshake() -> None:
    cookie = await sync_cookie("owner-g")
    task_id = await own_task("owner-g")
    comm = communicator(task_id, cookie, origin=b"http://evil.example")
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def test_unknown_websocket_path_is_denied_at_the_handshake() -> None:
    comm = WebsocketCommunicator(
        application, "/ws/elsewhere/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def sync_cookie(token: str) -> bytes:
    return await sync_to_async(session_cookie)(token)


async def publish(task_id: str, **fields: Any) -> dict[str, Any]:
    snapshot = await sync_to_async(store.update)(task_id=task_id, **fields)
    assert snapshot is not None
    public = store.public(snapshot)
    await get_channel_layer().group_send(
        broadcast.group_name(task_id), {"type": "progress.update", "snapshot": public}
    )
    return public
