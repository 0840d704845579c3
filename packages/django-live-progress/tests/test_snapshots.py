"""live_progress/store/snapshots.py: `record()` writes, publishes and refuses, in real Redis."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from live_progress.exceptions import TaskEnded, TaskExists, TaskUnknown, TooManyTasks
from live_progress.store import lua, snapshots
from live_progress.store.snapshot import PUBLIC_FIELDS


def new_id() -> str:
    return str(uuid.uuid4())


def fields_of(task_id: str, **extra: Any) -> dict[str, Any]:
    return snapshots.new_snapshot(
        task_id=task_id, name="testproject.tasks.count", owner="", **extra
    )


@pytest.fixture
def events(redis_client: redis.Redis) -> Iterator[Any]:
    """A subscriber to every task's channel: `next_event()` returns the next message."""
    pubsub = redis_client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    pubsub.psubscribe(f"{snapshots.EVENTS_PREFIX}*")
    pubsub.get_message(timeout=1)  # the subscription's confirmation
    yield pubsub
    pubsub.close()


def next_event(pubsub: Any, timeout: float = 5.0) -> dict[str, Any] | None:
    """The next published snapshot (its JSON, after the '<seq> <state> <time> ' head), channel.

    Redis delivers a PUBLISH to subscribers before the script that made it returns, so a
    short wait is enough to say that nothing was published."""
    message = pubsub.get_message(timeout=timeout)
    if message is None:
        return None
    event = lua.split_event(message["data"])
    assert abs(event.at - time.time()) < 60  # when Redis published it, on Redis's clock
    assert (event.seq, event.state) == (
        json.loads(event.text)["seq"],
        json.loads(event.text)["state"],
    )
    return {"channel": message["channel"], **json.loads(event.text)}


def test_a_write_for_an_unknown_task_is_refused_and_writes_nothing(
    redis_client: redis.Redis, events: Any
) -> None:
    task_id = new_id()
    with pytest.raises(TaskUnknown) as refused:
        snapshots.record(task_id, state="PROGRESS", current=1, total=10)
    assert refused.value.task_id == task_id
    assert redis_client.exists(snapshots.key(task_id)) == 0
    assert next_event(events, timeout=0.3) is None


def test_a_write_with_create_as_makes_the_snapshot_and_publishes_it(events: Any) -> None:
    task_id = new_id()
    written = snapshots.record(
        task_id, create_as=fields_of(task_id), state="PROGRESS", current=3, total=12
    )
    assert written.created is True
    assert written.parent is None
    stored = written.snapshot
    assert (stored["state"], stored["current"], stored["total"]) == ("PROGRESS", 3, 12)
    assert stored["percent"] == 25
    assert stored["seq"] == 1
    assert stored["owner"] == ""
    event = next_event(events)
    assert event is not None
    assert event["channel"] == snapshots.events_channel(task_id)
    assert event["seq"] == 1
    assert event["percent"] == 25
    # What is published is the public snapshot, without the owner or the live fields.
    assert "owner" not in event
    assert set(event) - {"channel"} <= set(PUBLIC_FIELDS)


def test_each_write_bumps_seq_and_changes_only_what_it_names() -> None:
    task_id = new_id()
    snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS", current=1, total=4)
    second = snapshots.record(task_id, current=2, total=4, message="Halfway")
    assert second.created is False
    assert second.snapshot["seq"] == 2
    assert second.snapshot["percent"] == 50
    assert second.snapshot["message"] == "Halfway"
    assert second.snapshot["name"] == "testproject.tasks.count"
    third = snapshots.record(task_id, message="Still going")
    assert third.snapshot["seq"] == 3
    assert third.snapshot["current"] == 2
    assert snapshots.seq_of(task_id=task_id) == 3


def test_create_as_is_ignored_once_the_snapshot_exists() -> None:
    task_id = new_id()
    snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS", current=1, total=4)
    again = snapshots.record(
        task_id, create_as=fields_of(task_id, message="anew"), state="PROGRESS", current=2, total=4
    )
    assert again.created is False
    assert again.snapshot["seq"] == 2
    assert again.snapshot["message"] != "anew"


@pytest.mark.parametrize("end", ["SUCCESS", "FAILURE", "REVOKED"])
def test_after_the_end_every_write_is_refused_with_the_end_state(
    end: str, redis_client: redis.Redis, events: Any
) -> None:
    task_id = new_id()
    snapshots.record(task_id, create_as=fields_of(task_id), state=end)
    assert next_event(events) is not None
    before = redis_client.hgetall(snapshots.key(task_id))
    with pytest.raises(TaskEnded) as refused:
        snapshots.record(task_id, state="PROGRESS", current=99, total=100)
    assert refused.value.state == end
    assert refused.value.task_id == task_id
    with pytest.raises(TaskEnded):
        snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS")
    assert redis_client.hgetall(snapshots.key(task_id)) == before
    assert next_event(events, timeout=0.3) is None


def test_a_write_keeps_the_snapshot_for_its_lifetime(redis_client: redis.Redis) -> None:
    task_id = new_id()
    snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS")
    ttl = redis_client.ttl(snapshots.key(task_id))
    assert 0 < ttl <= 24 * 3600


def test_a_history_record_is_pushed_on_creation_and_on_the_end_only(
    redis_client: redis.Redis,
) -> None:
    task_id = new_id()
    history = snapshots.history_key()

    def records() -> list[dict[str, Any]]:
        return [
            record
            for raw in redis_client.lrange(history, 0, -1)
            if (record := json.loads(raw))["task_id"] == task_id
        ]

    snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS", current=1)
    assert [r["state"] for r in records()] == ["PROGRESS"]
    snapshots.record(task_id, current=2)
    assert len(records()) == 1
    snapshots.record(task_id, state="SUCCESS", current=10, total=10, result=10)
    assert [r["state"] for r in records()] == ["PROGRESS", "SUCCESS"]
    assert records()[-1]["result"] == 10


def test_a_created_task_is_queued_with_seq_one_and_readable() -> None:
    task_id = new_id()
    stored = snapshots.create(fields_of(task_id, queue="celery"))
    assert (stored["state"], stored["seq"], stored["percent"]) == ("PENDING", 1, 0)
    # What create returns is what is stored, and where the task stands in its queue.
    assert isinstance(stored["queue_position"], int) and stored["queue_position"] >= 0
    kept = {**stored, "queue_position": None}  # a live field: not stored
    read = snapshots.read(task_id=task_id)
    assert read is not None and {**read, "queue_position": None} == kept
    assert snapshots.read_many([task_id, new_id()]).keys() == {task_id}


def test_a_task_is_never_created_twice() -> None:
    task_id = new_id()
    snapshots.create(fields_of(task_id))
    with pytest.raises(TaskExists):
        snapshots.create(fields_of(task_id))


def test_an_owner_at_the_limit_of_unfinished_tasks_gets_none_more() -> None:
    owner = f"session:{uuid.uuid4().hex}"
    first, second = new_id(), new_id()
    snapshots.create({**fields_of(first), "owner": owner}, limit=2)
    snapshots.create({**fields_of(second), "owner": owner}, limit=2)
    with pytest.raises(TooManyTasks) as refused:
        snapshots.create({**fields_of(new_id()), "owner": owner}, limit=2)
    assert refused.value.limit == 2
    # One ends: there is room again.
    snapshots.record(first, state="SUCCESS")
    assert snapshots.create({**fields_of(new_id()), "owner": owner}, limit=2)["state"] == "PENDING"


def test_unknown_ids_read_as_none() -> None:
    task_id = new_id()
    assert snapshots.read(task_id=task_id) is None
    assert snapshots.seq_of(task_id=task_id) is None


def test_a_cancelled_task_reads_as_revoked() -> None:
    task_id = new_id()
    snapshots.create(fields_of(task_id))
    snapshots.record(task_id, state="REVOKED", finished_at=snapshots.now_iso())
    assert snapshots.read(task_id=task_id)["state"] == "REVOKED"  # type: ignore[index]


def test_timestamps_are_iso_utc_with_microseconds() -> None:
    task_id = new_id()
    stored = snapshots.record(task_id, create_as=fields_of(task_id), state="PROGRESS").snapshot
    updated = stored["updated_at"]
    assert updated is not None
    assert updated.endswith("+00:00")
    assert len(updated.split(".")[1]) == len("000000+00:00")
