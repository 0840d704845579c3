"""The store's scripts in real Redis: the limits and counts they keep, exact and O(1) per task."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from celery import group
from testproject.tasks import count

from live_progress.exceptions import QueueFull, TaskEnded, TooManyTasks, TooManyTasksFromAddress
from live_progress.store import client, counts, indexes, snapshots
from live_progress.store.counts import WAITED_BUCKETS
from live_progress.store.keys import active_key, owner_key, queued_key
from live_progress.web import services


def new_owner() -> str:
    return f"session:{uuid.uuid4().hex}"


def new_task(owner: str, **fields: Any) -> dict[str, Any]:
    return snapshots.new_snapshot(
        task_id=str(uuid.uuid4()), name="testproject.tasks.count", owner=owner, **fields
    )


def commands(client: redis.Redis, call: Callable[[], object]) -> int:
    """How many commands Redis ran for `call` (those of its scripts included): the fewest
    of five tries, since the session's worker sends its heartbeat to the same Redis."""
    counts = []
    for _ in range(5):
        before = sum(stats["calls"] for stats in client.info("commandstats").values())
        call()
        after = sum(stats["calls"] for stats in client.info("commandstats").values())
        counts.append(int(after - before - 1))  # the INFO itself
    return min(counts)


def test_a_start_costs_the_same_commands_whatever_its_owner_has_running(
    redis_client: redis.Redis,
) -> None:
    owner = new_owner()

    def start() -> None:  # limits lifted far above what the owner has running
        snapshots.create(new_task(owner), limit=10**6, address="10.0.0.1", address_limit=10**6)

    for _ in range(5):
        start()
    few = commands(redis_client, start)
    for _ in range(500):
        start()
    many = commands(redis_client, start)
    assert many == few, (few, many)


def test_an_end_frees_its_place_under_every_limit_at_once() -> None:
    owner, address = new_owner(), f"10.1.{uuid.uuid4().int % 250}.1"
    limits: dict[str, Any] = {"limit": 2, "address": address, "address_limit": 3}
    first = snapshots.create(new_task(owner), **limits)
    snapshots.create(new_task(owner), **limits)
    with pytest.raises(TooManyTasks):
        snapshots.create(new_task(owner), **limits)
    snapshots.create(new_task(new_owner()), **limits)  # another owner, same address
    with pytest.raises(TooManyTasksFromAddress):
        snapshots.create(new_task(new_owner()), **limits)
    snapshots.record(first["task_id"], state="REVOKED", message="Cancelled")
    assert snapshots.create(new_task(owner), **limits)["state"] == "PENDING"


def test_a_task_whose_snapshot_expired_without_an_end_stops_counting(
    redis_client: redis.Redis,
) -> None:
    owner = new_owner()
    lost = snapshots.create(new_task(owner), limit=1)
    redis_client.delete(snapshots.key(lost["task_id"]))  # a worker lost, the snapshot expired
    assert snapshots.create(new_task(owner), limit=1)["state"] == "PENDING"
    with pytest.raises(TooManyTasks):
        snapshots.create(new_task(owner), limit=1)


def test_everyones_limit_counts_tasks_not_group_parts() -> None:
    owner = new_owner()
    group = snapshots.create(new_task(owner))
    snapshots.create_parts([new_task(owner, parent=group["task_id"]) for _ in range(3)])
    unfinished = len(indexes.unfinished(limit=100_000))
    with pytest.raises(QueueFull):
        snapshots.create(new_task(owner), queued_limit=unfinished)
    assert snapshots.create(new_task(owner), queued_limit=unfinished + 1)["state"] == "PENDING"


def test_a_login_brings_the_sessions_unfinished_tasks_under_the_users_limit() -> None:
    session, user = new_owner(), f"user:{uuid.uuid4().int % 10**9}"
    snapshots.create(new_task(session), limit=2)
    snapshots.create(new_task(user), limit=2)
    indexes.reassign(old_owner=session, new_owner=user)
    with pytest.raises(TooManyTasks):
        snapshots.create(new_task(user), limit=2)
    assert snapshots.create(new_task(session), limit=2)["state"] == "PENDING"


def test_a_login_gives_the_user_a_groups_parts_too() -> None:
    session, user = new_owner(), f"user:{uuid.uuid4().int % 10**9}"
    parts = [str(uuid.uuid4()) for _ in range(2)]
    children = [{"task_id": part, "state": "PENDING", "current": 0, "total": 100} for part in parts]
    group_id = snapshots.create(new_task(session, children=children))["task_id"]
    snapshots.create_parts([{**new_task(session, parent=group_id), "task_id": p} for p in parts])
    indexes.reassign(old_owner=session, new_owner=user)
    for task_id in (group_id, *parts):
        stored = snapshots.read(task_id=task_id)
        assert stored is not None and stored["owner"] == user, stored


def test_starts_ends_and_waits_are_counted_in_the_step_that_writes_them() -> None:
    name = f"testproject.tasks.counted_{uuid.uuid4().hex[:8]}"
    before = counts.read()
    queued = snapshots.create({**new_task(new_owner()), "name": name})
    time.sleep(0.06)  # it waits in its queue a moment
    snapshots.record(queued["task_id"], state="STARTED")
    snapshots.record(queued["task_id"], state="PROGRESS", current=1)
    snapshots.record(queued["task_id"], state="SUCCESS", current=2, total=2)
    # A task first heard of through progress.set starts then, and waited for nobody.
    heard = str(uuid.uuid4())
    fields = snapshots.new_snapshot(task_id=heard, name=name, owner="", state="STARTED")
    snapshots.record(heard, create_as=fields, state="PROGRESS", current=1)
    snapshots.record(heard, state="FAILURE", error="boom")
    with pytest.raises(TaskEnded):
        snapshots.record(heard, state="SUCCESS")  # refused: not counted twice
    after = counts.read()

    assert after.started.get(name) == 2
    assert after.ended[(name, "SUCCESS")] == 1
    assert after.ended[(name, "FAILURE")] == 1
    waited = [n - b for n, b in zip(after.waited, before.waited, strict=True)]
    assert sum(waited) >= 1  # other tests' tasks may wait too, never fewer
    fast = WAITED_BUCKETS.index(0.01)
    assert sum(waited[fast + 1 :]) >= 1  # it waited more than 10 ms
    assert after.waited_sum > before.waited_sum


def test_a_redis_that_lost_its_script_cache_still_takes_every_write(
    redis_client: redis.Redis,
) -> None:
    created = snapshots.create(new_task(new_owner()))
    redis_client.script_flush()  # a restarted Redis, or SCRIPT FLUSH
    written = snapshots.record(created["task_id"], state="PROGRESS", current=1)
    assert (written.snapshot["state"], written.snapshot["seq"]) == ("PROGRESS", 2)
    redis_client.script_flush()
    assert snapshots.create(new_task(new_owner()))["state"] == "PENDING"
    redis_client.script_flush()
    part = new_task(new_owner(), parent=created["task_id"])
    snapshots.create_parts([part])
    assert redis_client.hget(snapshots.key(part["task_id"]), "state") == '"PENDING"'


class CountingConnection(redis.Connection):
    """A real connection that counts what it sends: one send is one round trip."""

    sends = 0

    def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        CountingConnection.sends += 1
        super().send_packed_command(command, check_health)  # type: ignore[no-untyped-call]


def test_a_groups_parts_are_created_in_one_round_trip_whatever_their_number(
    redis_url: str, redis_client: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = redis.Redis.from_url(
        redis_url, decode_responses=True, connection_class=CountingConnection
    )
    monkeypatch.setattr(client, "_client", counting)
    monkeypatch.setattr(client, "_client_pid", os.getpid())
    owner = new_owner()
    trips = {}
    try:
        for size in (2, 50):
            parent = snapshots.create(new_task(owner))["task_id"]
            parts = [new_task(owner, parent=parent) for _ in range(size)]
            before = CountingConnection.sends
            snapshots.create_parts(parts)
            trips[size] = CountingConnection.sends - before
            for part in parts:  # each as `create(indexed=False)` makes it: out of the indexes
                stored = snapshots.read(task_id=part["task_id"])
                assert stored is not None and stored["parent"] == parent
                assert redis_client.zscore(snapshots.UNFINISHED_KEY, part["task_id"]) is None
    finally:
        counting.close()
    assert trips == {2: 1, 50: 1}


def test_a_group_the_broker_refuses_ends_with_its_parts_and_frees_its_places(
    redis_client: redis.Redis,
) -> None:
    owner, queue = new_owner(), f"refused-{uuid.uuid4().hex}"
    # A serializer kombu does not have: the real send fails, in the broker's client.
    parts = [count.s().set(queue=queue, serializer="no-such-serializer") for _ in range(3)]
    with pytest.raises(Exception, match="no-such-serializer"):
        services.start(group(parts), owner=owner, limited=True)
    (group_id,) = [str(i) for i in redis_client.zrange(owner_key(owner), 0, -1)]
    stored = snapshots.read(task_id=group_id)
    assert stored is not None and (stored["state"], stored["message"]) == ("FAILURE", "Not queued")
    for child in snapshots.children_of(stored):
        part = snapshots.read(task_id=child["task_id"])
        assert part is not None and part["state"] == "FAILURE", part
    # Nothing of it waits in a queue or counts as unfinished.
    assert redis_client.zcard(queued_key(queue)) == 0
    assert redis_client.zscore(snapshots.UNFINISHED_KEY, group_id) is None
    assert redis_client.zcard(active_key(owner)) == 0


def test_the_unfinished_index_drops_what_expired_without_an_end_when_it_is_read(
    redis_client: redis.Redis,
) -> None:
    owner = new_owner()
    lost, alive = (snapshots.create(new_task(owner)) for _ in range(2))
    redis_client.delete(snapshots.key(lost["task_id"]))  # a worker lost, the snapshot expired
    ids = [stored["task_id"] for stored in indexes.unfinished(limit=100_000)]
    assert alive["task_id"] in ids and lost["task_id"] not in ids
    assert redis_client.zscore(snapshots.UNFINISHED_KEY, lost["task_id"]) is None
    assert redis_client.zscore(snapshots.UNFINISHED_KEY, alive["task_id"]) is not None
