"""progress.set() coalescing, against the real Redis and the real channel layer."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
import redis
from channels.layers import get_channel_layer

from progress import broadcast, store
from progress.recorder import Recorder, TaskCancelled
from tests.support.processes import free_port


def new_task() -> str:
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner="o")
    return task_id


def test_a_million_calls_publish_a_bounded_number_of_writes_and_keep_the_last() -> None:
    task_id = new_task()
    recorder = Recorder(task_id, interval=0.05)
    calls = 1_000_000
    started = time.monotonic()
    for i in range(1, calls + 1):
        recorder.set(i, total=calls)
    elapsed = time.monotonic() - started
    recorder.close()

    snapshot = store.read(task_id=task_id)
    assert snapshot is not None
    assert snapshot["current"] == calls
    assert snapshot["percent"] == 100
    # One write per 50 ms window, plus the first and the final flush.
    bound = int(elapsed / 0.05) + 2
    assert 1 <= recorder.writes <= bound
    assert snapshot["seq"] == 1 + recorder.writes


def test_the_trailing_value_is_written_without_another_call() -> None:
    task_id = new_task()
    recorder = Recorder(task_id, interval=0.2)
    recorder.set(1, total=10)  # written at once
    recorder.set(7, total=10, message="seven")  # coalesced: the timer must write it
    snapshot = None

    def seven_is_stored() -> bool:
        nonlocal snapshot
        snapshot = store.read(task_id=task_id)
        return snapshot is not None and snapshot["current"] == 7

    deadline = time.monotonic() + 5
    while not seven_is_stored() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert snapshot is not None
    assert snapshot["current"] == 7
    assert snapshot["message"] == "seven"
    assert recorder.writes == 2


def test_close_writes_what_is_pending() -> None:
    task_id = new_task()
    recorder = Recorder(task_id, interval=60)
    recorder.set(1, total=3)
    recorder.set(2, total=3)
    recorder.close()
    snapshot = store.read(task_id=task_id)
    assert snapshot is not None and snapshot["current"] == 2


def test_progress_after_a_terminal_state_is_not_written() -> None:
    task_id = new_task()
    store.update(task_id=task_id, state="REVOKED")
    recorder = Recorder(task_id, interval=0)
    recorder.set(5, total=10)
    snapshot = store.read(task_id=task_id)
    assert snapshot is not None and snapshot["state"] == "REVOKED"


@pytest.mark.asyncio
async def test_written_progress_reaches_the_tasks_channel_group() -> None:
    task_id = new_task()
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(broadcast.group_name(task_id), channel)
    recorder = Recorder(task_id, interval=0)
    await asyncio.to_thread(recorder.set, 3, 10, "three")
    message = await asyncio.wait_for(layer.receive(channel), timeout=5)
    assert message["type"] == "progress.update"
    assert message["snapshot"]["current"] == 3
    assert message["snapshot"]["message"] == "three"
    assert "owner" not in message["snapshot"]
    await layer.group_discard(broadcast.group_name(task_id), channel)


def test_a_cancelled_task_is_stopped_at_its_next_progress_call() -> None:
    task_id = new_task()
    store.update(task_id=task_id, state="REVOKED", message="Cancelled")
    recorder = Recorder(task_id, interval=0)
    recorder.set(1, total=10)  # the write is refused: the recorder learns of the cancel
    with pytest.raises(TaskCancelled):
        recorder.set(2, total=10)


def test_a_failed_write_is_kept_and_retried_later(redis_url: str) -> None:
    """Redis away: the task goes on at its own pace, and the value is written once it is back."""
    from progress import redis_client

    task_id = new_task()
    recorder = Recorder(task_id, interval=0)
    real = redis_client._client
    redis_client._client = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    try:
        recorder.set(5, total=10)  # fails: nothing listens on that port
    finally:
        redis_client._client = real
    assert store.read(task_id=task_id)["current"] == 0  # type: ignore[index]
    recorder.close()  # Redis is back: the pending value is written
    assert store.read(task_id=task_id)["current"] == 5  # type: ignore[index]
