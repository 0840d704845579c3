"""progress.set() coalescing, against the real Redis and the real channel layer."""

from __future__ import annotations

import json
import re
import time

import pytest
import redis

from live_progress.exceptions import TaskEnded
from live_progress.models import TaskRun
from live_progress.store import history, snapshots
from live_progress.store.client import get_redis
from live_progress.store.snapshot import public
from live_progress.worker.recorder import Recorder, TaskCancelled
from tests.support.expected import SNAPSHOT_FIELDS, TIMESTAMP_PATTERN
from tests.support.processes import free_port, wait_for
from tests.support.tasks import TEST_TASK, Published, create_snapshot, create_task, new_id


def seq(task_id: str) -> int:
    value = snapshots.seq_of(task_id=task_id)
    assert value is not None, f"task {task_id} has no snapshot"
    return value


def test_a_million_calls_publish_a_bounded_number_of_writes_and_keep_the_last() -> None:
    task_id = create_task()  # seq 1: every write of the recorder adds one
    recorder = Recorder(task_id, name=TEST_TASK, interval=0.05)
    calls = 1_000_000
    started = time.monotonic()
    for i in range(1, calls + 1):
        recorder.set(i, total=calls)
    elapsed = time.monotonic() - started
    recorder.close()

    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["state"], snapshot["current"], snapshot["percent"]) == ("PROGRESS", calls, 100)
    # One write per 50 ms window, plus the first and the final flush.
    writes = snapshot["seq"] - 1
    assert 1 <= writes <= int(elapsed / 0.05) + 2


def test_the_trailing_value_is_written_without_another_call() -> None:
    task_id = create_task()
    recorder = Recorder(task_id, name=TEST_TASK, interval=0.2)
    recorder.set(1, total=10)  # written at once
    assert seq(task_id) == 2
    recorder.set(7, total=10, message="seven")  # coalesced: the timer must write it
    snapshot = wait_for(
        lambda: (s := snapshots.read(task_id=task_id)) and s["current"] == 7 and s,
        timeout=10,
        interval=0.02,
        what="the trailing value 7",
    )
    assert snapshot["message"] == "seven"
    assert snapshot["seq"] == 3  # the first write and the trailing one, nothing more
    recorder.close()
    assert seq(task_id) == 3  # nothing was pending any more


def test_close_writes_what_is_pending() -> None:
    task_id = create_task()
    recorder = Recorder(task_id, name=TEST_TASK, interval=60)
    recorder.set(1, total=3)
    recorder.set(2, total=3)
    assert snapshots.read(task_id=task_id)["current"] == 1  # type: ignore[index]
    recorder.close()
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["current"], snapshot["seq"]) == (2, 3)


def test_progress_after_a_terminal_state_is_not_written() -> None:
    task_id = create_task()
    snapshots.record(task_id, state="SUCCESS", current=100, total=100)
    recorder = Recorder(task_id, name=TEST_TASK, interval=0)
    recorder.set(5, total=10)
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["state"], snapshot["current"], snapshot["seq"]) == ("SUCCESS", 100, 2)


def test_written_progress_is_published_on_the_tasks_channel() -> None:
    task_id = create_task(owner="session:secret")
    published = Published([task_id])
    try:
        Recorder(task_id, name=TEST_TASK, interval=0).set(3, 10, "three")
        snapshot = published.next()
    finally:
        published.close()
    assert (snapshot["current"], snapshot["message"], snapshot["seq"]) == (3, "three", 2)
    # Every public field but the live ones, which each web process adds; no owner.
    assert set(snapshot) == SNAPSHOT_FIELDS
    assert "session:secret" not in repr(snapshot)


@pytest.mark.django_db
def test_a_task_with_no_snapshot_gets_one_nobodys_on_its_first_write() -> None:
    """Sent without the API (`.delay()`, beat): its first progress.set makes its snapshot."""
    task_id = new_id()
    recorder = Recorder(task_id, name="tests.elsewhere", interval=0)
    recorder.set(1, total=4, message="one")
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["state"], snapshot["percent"], snapshot["seq"]) == ("PROGRESS", 25, 1)
    assert (snapshot["name"], snapshot["owner"], snapshot["message"]) == (
        "tests.elsewhere",
        "",
        "one",
    )
    assert re.match(TIMESTAMP_PATTERN, snapshot["started_at"] or "")
    assert history.drain() >= 1  # its history record, written in a batch
    run = TaskRun.objects.get(task_id=task_id)  # staff only: no owner
    assert (run.owner, run.name, run.state) == ("", "tests.elsewhere", "PROGRESS")
    # Unknown was not cancelled: the task goes on reporting.
    recorder.set(2, total=4)
    assert not recorder.cancelled
    assert snapshots.read(task_id=task_id)["seq"] == 2  # type: ignore[index]


@pytest.mark.django_db
def test_a_cancelled_task_is_stopped_at_its_next_progress_call() -> None:
    task_id = create_task()
    assert snapshots.record(task_id, state="REVOKED", message="Cancelled") is not None
    recorder = Recorder(task_id, name=TEST_TASK, interval=0)
    recorder.set(1, total=10)  # the write is refused: the recorder learns of the cancel
    assert recorder.cancelled
    with pytest.raises(TaskCancelled):
        recorder.set(2, total=10)
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["state"], snapshot["current"], snapshot["seq"]) == ("REVOKED", 0, 2)


def test_a_failed_write_is_kept_and_retried_later(redis_url: str) -> None:
    """Redis away: the task goes on at its own pace, and the value is written once it is back."""
    from live_progress.store import client

    task_id = create_task()
    recorder = Recorder(task_id, name=TEST_TASK, interval=0)
    real = client._client
    client._client = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    try:
        recorder.set(5, total=10)  # fails: nothing listens on that port
    finally:
        client._client = real
    assert not recorder.cancelled  # a failed write is not a cancel
    assert snapshots.read(task_id=task_id)["current"] == 0  # type: ignore[index]
    recorder.close()  # Redis is back: the pending value is written
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["current"], snapshot["seq"]) == (5, 2)


@pytest.mark.django_db
def test_a_tasks_end_reaches_the_history_in_a_batch_and_never_goes_back() -> None:
    task_id = create_task(owner="session:batch")
    snapshots.record(task_id, state="PROGRESS", current=5, total=10)
    snapshots.record(task_id, state="SUCCESS", current=10, total=10, result={"n": 10})
    with pytest.raises(TaskEnded):
        snapshots.record(task_id, state="PROGRESS", current=6, total=10)
    history.drain()
    run = TaskRun.objects.get(task_id=task_id)
    assert (run.state, run.result, run.owner, run.seq) == ("SUCCESS", {"n": 10}, "session:batch", 3)
    assert history.drain() == 0  # nothing left waiting
    # A late record of an older state (seq 2) never takes a row back.
    stored = snapshots.read(task_id=task_id)
    assert stored is not None
    older: dict[str, object] = {**public(stored), "seq": 2}
    older.update(state="PROGRESS", owner="session:batch", created=None)
    get_redis().rpush(snapshots.history_key(), json.dumps(older))
    assert history.drain() == 1
    assert TaskRun.objects.get(task_id=task_id).state == "SUCCESS"


@pytest.mark.django_db
def test_a_snapshot_lost_mid_task_is_made_again_without_losing_the_value() -> None:
    task_id = new_id()
    recorder = Recorder(task_id, name="tests.elsewhere", interval=0)
    recorder.set(1, total=4)
    get_redis().delete(snapshots.key(task_id))  # expired or flushed while the task runs
    recorder.set(2, total=4, message="two")
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None and not recorder.cancelled
    assert (snapshot["state"], snapshot["current"], snapshot["message"]) == ("PROGRESS", 2, "two")


@pytest.mark.django_db
def test_a_snapshot_lost_mid_task_is_made_again_for_its_owner() -> None:
    stored = create_snapshot(owner="session:lost-owner")
    task_id = stored["task_id"]
    history.drain()  # the row of its start
    recorder = Recorder(task_id, name=TEST_TASK, interval=0)
    recorder.exists = True  # a tracked task: its snapshot was made at the start
    recorder.set(1, total=4)
    get_redis().delete(snapshots.key(task_id))  # evicted while the task runs
    recorder.set(2, total=4)
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["owner"], snapshot["current"]) == ("session:lost-owner", 2)
