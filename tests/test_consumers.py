"""ProgressConsumer through the real ASGI stack (origins, sessions) and the real Redis pub/sub."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import deque
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.models import User
from django.contrib.sessions.backends.db import SessionStore

from django_starter.asgi import application
from live_progress.store import history, snapshots
from live_progress.store.client import get_redis
from live_progress.store.snapshot import Snapshot, public
from live_progress.web.consumers import ProgressConsumer
from live_progress.web.hub import LIVE_PERIOD
from live_progress.web.owners import SESSION_OWNER_KEY
from tests.support.expected import LIVE_SNAPSHOT_FIELDS
from tests.support.tasks import TEST_TASK, create_snapshot, create_task, new_id

pytestmark = [pytest.mark.django_db(transaction=True)]


def session_cookie(token: str) -> bytes:
    session = SessionStore()
    session[SESSION_OWNER_KEY] = token
    session.create()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}".encode()


def user_cookie(*, is_staff: bool) -> bytes:
    """The session cookie of a logged-in user (staff or not), as after Django's login."""
    user = User.objects.create_user(username=f"u-{uuid.uuid4().hex[:12]}", is_staff=is_staff)
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
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
    return await sync_to_async(create_task)(owner=f"session:{token}")


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
    assert (first["task_id"], first["name"]) == (task_id, TEST_TASK)
    assert (first["state"], first["seq"]) == ("PENDING", 1)
    assert set(first) == LIVE_SNAPSHOT_FIELDS  # no owner, no private bookkeeping
    assert first["workers_online"] is not None  # the live fields are filled in
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
    event = f"{stale['seq']} {stale['state']} {time.time()} {json.dumps(stale)}"
    await sync_to_async(get_redis().publish)(snapshots.events_channel(task_id), event)
    await publish(task_id, state="SUCCESS", current=100, total=100)
    seen = []
    while (output := await comm.receive_output(timeout=5))["type"] != "websocket.close":
        seen.append(json.loads(output["text"]))
    assert seen[-1]["state"] == "SUCCESS"
    assert all(message["seq"] >= newer["seq"] and message["current"] != 10 for message in seen)


async def test_a_refused_reader_receives_nothing_after_the_close() -> None:
    task_id = await own_task("owner-h")
    comm = communicator(task_id, await sync_cookie("stranger-h"))
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4403
    await publish(task_id, state="PROGRESS", current=50, total=100)
    assert await comm.receive_nothing(timeout=0.5)


async def test_a_change_published_while_the_subscription_was_down_is_caught_up() -> None:
    cookie = await sync_cookie("owner-i")
    task_id = await own_task("owner-i")
    comm = communicator(task_id, cookie)
    await comm.connect(timeout=5)
    assert (await comm.receive_json_from(timeout=5))["seq"] == 1
    # Cut the process's subscription, and change the task before it is back: the hub
    # re-subscribes, reads the task once, and the socket still gets the change.
    redis = get_redis()
    await sync_to_async(redis.client_kill_filter)(_type="pubsub")
    await sync_to_async(snapshots.record)(task_id, state="SUCCESS", current=100, total=100)
    caught_up = await comm.receive_json_from(timeout=10)
    assert (caught_up["state"], caught_up["seq"]) == ("SUCCESS", 2)
    assert await closed_with(comm) == 1000


async def test_idle_sockets_cost_no_redis_command_each(settings: Any) -> None:
    """Sockets on a running task send no command of their own: 1 or 40, the same count."""
    settings.PROGRESS_MAX_SOCKETS_PER_OWNER = 100
    cookie = await sync_cookie("owner-idle")
    task_id = await own_task("owner-idle")
    await publish(task_id, state="PROGRESS", current=1, total=10)

    one = await commands_while_open([task_id], cookie)
    many = await commands_while_open([task_id] * 40, cookie)
    # The same process-wide reads whatever the number of sockets (give or take a worker
    # heartbeat landing in one window and not the other).
    assert many - one <= 30, (one, many)  # one read each more would be 60 or more


def command_count() -> int:
    """Commands Redis has processed so far, our INFO calls included."""
    return int(get_redis().info("stats")["total_commands_processed"])


async def commands_while_open(task_ids: list[str], cookie: bytes) -> int:
    """Redis commands over three live-field refreshes with one socket open per id."""
    comms = [communicator(task_id, cookie) for task_id in task_ids]
    for comm in comms:
        await comm.connect(timeout=5)
        await comm.receive_json_from(timeout=5)
    before = await sync_to_async(command_count)()
    await asyncio.sleep(3 * LIVE_PERIOD)
    after = await sync_to_async(command_count)()
    for comm in comms:
        await comm.disconnect()
    return after - before


async def test_past_the_socket_limit_a_new_socket_is_closed_with_4429(settings: Any) -> None:
    settings.PROGRESS_MAX_SOCKETS_PER_OWNER = 2
    cookie = await sync_cookie("owner-many-sockets")
    task_id = await own_task("owner-many-sockets")
    open_ones = [communicator(task_id, cookie) for _ in range(2)]
    for comm in open_ones:
        await comm.connect(timeout=5)
        await comm.receive_json_from(timeout=5)
    refused = communicator(task_id, cookie)
    await refused.connect(timeout=5)
    assert await closed_with(refused) == 4429
    await open_ones[0].disconnect()
    again = communicator(task_id, cookie)  # a slot is free again
    await again.connect(timeout=5)
    assert (await again.receive_json_from(timeout=5))["task_id"] == task_id
    for comm in (open_ones[1], again):
        await comm.disconnect()


async def test_every_socket_of_a_task_gets_the_same_text_and_the_end() -> None:
    cookie = await sync_cookie("owner-fan")
    task_id = await own_task("owner-fan")
    comms = [communicator(task_id, cookie) for _ in range(5)]
    for comm in comms:
        await comm.connect(timeout=5)
        await comm.receive_from(timeout=5)
    for step in range(1, 50):
        await publish(task_id, state="PROGRESS", current=step, total=50)
    await publish(task_id, state="SUCCESS", current=50, total=50)
    for comm in comms:
        texts = []
        while True:
            output = await comm.receive_output(timeout=10)
            if output["type"] == "websocket.close":
                break
            texts.append(output["text"])
        seqs = [json.loads(text)["seq"] for text in texts]
        assert seqs == sorted(set(seqs)), "newer only, never a repeat"
        assert json.loads(texts[-1])["state"] == "SUCCESS", "the terminal state always arrives"


async def test_a_finished_task_redis_forgot_is_sent_from_the_history_then_closed() -> None:
    cookie = await sync_cookie("owner-j")
    task_id = await own_task("owner-j")
    await publish(task_id, state="SUCCESS", current=100, total=100, result=7)
    await sync_to_async(get_redis().delete)(snapshots.key(task_id))  # expired, or Redis flushed
    comm = communicator(task_id, cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    snapshot = await comm.receive_json_from(timeout=5)
    assert (snapshot["task_id"], snapshot["state"], snapshot["result"]) == (task_id, "SUCCESS", 7)
    assert (snapshot["percent"], snapshot["seq"]) == (100, 2)
    assert set(snapshot) == LIVE_SNAPSHOT_FIELDS
    assert await closed_with(comm) == 1000


async def test_a_strangers_task_only_in_the_history_is_refused_as_unknown() -> None:
    task_id = await own_task("owner-k")
    await publish(task_id, state="FAILURE", error="ValueError: no")
    await sync_to_async(get_redis().delete)(snapshots.key(task_id))
    comm = communicator(task_id, await sync_cookie("stranger-k"))
    await comm.connect(timeout=5)
    assert await closed_with(comm) == 4404


async def test_a_task_nobody_started_here_is_shown_to_staff_only() -> None:
    """A task sent without the API has a snapshot with no owner once it reports progress."""
    task_id = new_id()
    defaults = snapshots.new_snapshot(task_id=task_id, name="tests.elsewhere", owner="")
    await sync_to_async(snapshots.record)(task_id, create_as=defaults, state="PROGRESS", current=1)

    comm = communicator(task_id, await sync_to_async(user_cookie)(is_staff=True))
    connected, _ = await comm.connect(timeout=5)
    assert connected
    seen = await comm.receive_json_from(timeout=5)
    assert (seen["task_id"], seen["name"], seen["state"]) == (
        task_id,
        "tests.elsewhere",
        "PROGRESS",
    )
    await comm.disconnect()

    for cookie in (await sync_to_async(user_cookie)(is_staff=False), await sync_cookie("")):
        refused = communicator(task_id, cookie)
        await refused.connect(timeout=5)
        assert await closed_with(refused) == 4403


async def test_unknown_websocket_path_is_denied_at_the_handshake() -> None:
    comm = WebsocketCommunicator(
        application, "/ws/elsewhere/", headers=[(b"origin", b"http://localhost")]
    )
    connected, _ = await comm.connect(timeout=5)
    assert not connected


async def sync_cookie(token: str) -> bytes:
    return await sync_to_async(session_cookie)(token)


async def publish(task_id: str, **fields: Any) -> Snapshot:
    """A change as the worker makes it: stored, published, and kept in the history."""
    written = await sync_to_async(snapshots.record)(task_id, **fields)
    return public(written.snapshot)


async def test_a_socket_that_falls_behind_keeps_only_the_latest_text_of_each_state() -> None:
    consumer = ProgressConsumer()
    consumer.pending = deque()
    for step in range(1, 1001):  # offered faster than the socket writes
        consumer.offer(f"progress {step}", state="PROGRESS", final=False, at=None)
    consumer.offer("retry", state="RETRY", final=False, at=None)
    consumer.offer("started", state="STARTED", final=False, at=None)
    for step in range(1, 1001):
        consumer.offer(f"again {step}", state="PROGRESS", final=False, at=None)
    consumer.offer("done", state="SUCCESS", final=True, at=None)
    texts = [text for text, _state, _final, _at in consumer.pending]
    assert texts == ["progress 1000", "retry", "started", "again 1000", "done"]


async def test_a_running_task_that_stops_moving_says_so_on_its_open_socket(settings: Any) -> None:
    settings.STALLED_AFTER_SECONDS = 1
    comm, task_id, _ = await watch_own_task("owner-stalled")
    await publish(task_id, state="PROGRESS", current=3, total=10, message="Step 3 of 10")
    messages = [await comm.receive_json_from(timeout=5)]
    while "may be stuck" not in messages[-1]["message"]:  # pushed by the hub, no new seq
        messages.append(await comm.receive_json_from(timeout=10))
    assert messages[-1]["seq"] == messages[0]["seq"] and messages[-1]["current"] == 3
    assert "Step 3 of 10" in messages[-1]["message"]
    # Moving again, it shows its own message, not the stale warning.
    await publish(task_id, state="PROGRESS", current=4, total=10, message="Step 4 of 10")
    moved = await comm.receive_json_from(timeout=5)
    while moved["current"] != 4:
        moved = await comm.receive_json_from(timeout=5)
    assert moved["message"] == "Step 4 of 10"
    await comm.disconnect()


async def test_sockets_on_many_queued_tasks_cost_one_read_per_queue_not_one_each(
    settings: Any,
) -> None:
    settings.PROGRESS_MAX_SOCKETS_PER_OWNER = 100
    cookie = await sync_cookie("owner-queued")

    async def queued_tasks(count: int) -> list[str]:  # each with its place in the queue
        make = sync_to_async(create_task)
        return [await make(owner="session:owner-queued", queue="celery") for _ in range(count)]

    one = await commands_while_open(await queued_tasks(1), cookie)
    many = await commands_while_open(await queued_tasks(30), cookie)
    assert many - one <= 30, (one, many)  # one read each more would be 60 or more


async def test_a_snapshot_made_again_without_its_owner_still_streams_to_its_owner() -> None:
    """Redis lost the snapshot mid-task and the worker made it again, ownerless: the
    history row, written at the start, still says whose it is."""
    cookie = await sync_cookie("owner-r")
    stored = await sync_to_async(create_snapshot)(owner="session:owner-r")
    task_id = stored["task_id"]
    await sync_to_async(history.drain)()  # the row the start wrote
    await sync_to_async(get_redis().delete)(snapshots.key(task_id))  # evicted, or flushed
    again = snapshots.new_snapshot(task_id=task_id, name=TEST_TASK, owner="")
    await sync_to_async(snapshots.record)(task_id, create_as=again, state="PROGRESS", current=3)

    comm = communicator(task_id, cookie)
    connected, _ = await comm.connect(timeout=5)
    assert connected
    snapshot = await comm.receive_json_from(timeout=5)
    assert (snapshot["task_id"], snapshot["state"], snapshot["current"]) == (task_id, "PROGRESS", 3)
    await comm.disconnect()

    stranger = communicator(task_id, await sync_cookie("stranger-r"))
    await stranger.connect(timeout=5)
    assert await closed_with(stranger) == 4403
