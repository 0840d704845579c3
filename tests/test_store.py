"""progress/snapshots.py against the real Redis: seq, upserts, owners' limits, groups, ids."""

from __future__ import annotations

import json
import re
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from live_progress.exceptions import TaskEnded, TaskExists, TaskUnknown, TooManyTasks
from live_progress.store import indexes, snapshots
from live_progress.store.client import get_redis
from live_progress.store.snapshot import is_valid_task_id, percent_of, public
from tests.support.expected import LIVE_SNAPSHOT_FIELDS, TIMESTAMP_PATTERN
from tests.support.tasks import TEST_TASK, create_snapshot, create_task, new_id


def a_new_owner() -> str:
    return f"session:{uuid.uuid4().hex}"


def written(task_id: str, **fields: Any) -> dict[str, Any]:
    """snapshots.record that must be accepted: the task's new snapshot."""
    stored, group, created = snapshots.record(task_id, **fields)
    assert group is None and not created
    return dict(stored)


def test_create_records_a_pending_task_with_seq_1() -> None:
    task_id = new_id()
    snapshot = create_snapshot(task_id=task_id, owner="session:abc", name="tests.import")
    assert (snapshot["task_id"], snapshot["name"]) == (task_id, "tests.import")
    assert (snapshot["state"], snapshot["seq"], snapshot["percent"]) == ("PENDING", 1, 0)
    assert snapshot["owner"] == "session:abc"
    assert re.match(TIMESTAMP_PATTERN, snapshot["updated_at"] or "")
    assert snapshot["started_at"] is None and snapshot["finished_at"] is None
    assert snapshot["children"] is None
    assert snapshots.read(task_id=task_id) == snapshot


def test_create_twice_is_refused() -> None:
    task_id = create_task(owner="session:abc")
    with pytest.raises(TaskExists, match="already exists"):
        create_snapshot(task_id=task_id, owner="session:other")
    assert snapshots.read(task_id=task_id)["owner"] == "session:abc"  # type: ignore[index]


def test_every_write_bumps_seq_computes_percent_and_stamps_the_time() -> None:
    task_id = create_task()
    first = written(task_id, state="PROGRESS", current=1, total=4)
    second = written(task_id, state="PROGRESS", current=3, total=4)
    assert (first["seq"], first["percent"]) == (2, 25)
    assert (second["seq"], second["percent"]) == (3, 75)
    assert re.match(TIMESTAMP_PATTERN, second["updated_at"])
    assert second["updated_at"] >= first["updated_at"]
    assert snapshots.seq_of(task_id=task_id) == 3


def test_terminal_state_refuses_later_writes() -> None:
    task_id = create_task()
    written(task_id, state="SUCCESS", current=100, total=100)
    with pytest.raises(TaskEnded) as refused:
        snapshots.record(task_id, state="PROGRESS", current=5, total=100)
    assert refused.value.state == "SUCCESS"
    snapshot = snapshots.read(task_id=task_id)
    assert snapshot is not None
    assert (snapshot["state"], snapshot["seq"]) == ("SUCCESS", 2)


def test_public_hides_the_private_bookkeeping() -> None:
    stored = create_snapshot(owner="secret-owner", queue="celery", callback=False)
    shown = public(stored)
    assert set(shown) == LIVE_SNAPSHOT_FIELDS
    assert "secret-owner" not in repr(shown)
    assert shown["workers_online"] is None  # the web process fills it in
    assert isinstance(shown["queue_position"], int)  # the create script's answer


def test_writes_to_an_unknown_task_are_refused_and_create_nothing() -> None:
    task_id = new_id()
    with pytest.raises(TaskUnknown):
        snapshots.record(task_id, state="STARTED")
    assert snapshots.read(task_id=task_id) is None


def test_a_write_with_create_as_gives_an_unknown_task_its_snapshot() -> None:
    """A task sent without the API (`.delay()`) gets a snapshot, nobody's, on its first write."""
    task_id = new_id()
    defaults = snapshots.new_snapshot(task_id=task_id, name="tests.elsewhere", owner="")
    outcome = snapshots.record(task_id, create_as=defaults, state="PROGRESS", current=2, total=8)
    stored, group, created = outcome
    assert created and group is None
    assert (stored["state"], stored["seq"], stored["percent"]) == ("PROGRESS", 1, 25)
    assert (stored["name"], stored["owner"]) == ("tests.elsewhere", "")
    assert snapshots.read(task_id=task_id) == stored

    again = snapshots.record(task_id, create_as=defaults, current=4, total=8)
    assert (again[0]["seq"], again[0]["percent"], again[2]) == (2, 50, False)


def test_create_as_never_overwrites_an_existing_snapshot() -> None:
    task_id = create_task(owner="session:mine", name="tests.mine")
    defaults = snapshots.new_snapshot(task_id=task_id, name="tests.other", owner="")
    outcome = snapshots.record(task_id, create_as=defaults, state="PROGRESS", current=1)
    stored, _, created = outcome
    assert not created
    assert (stored["owner"], stored["name"], stored["seq"]) == ("session:mine", "tests.mine", 2)


def test_create_as_does_not_revive_an_ended_task() -> None:
    task_id = create_task()
    written(task_id, state="REVOKED", message="Cancelled")
    defaults = snapshots.new_snapshot(task_id=task_id, name=TEST_TASK, owner="")
    with pytest.raises(TaskEnded):
        snapshots.record(task_id, create_as=defaults, state="PROGRESS")
    assert snapshots.read(task_id=task_id)["state"] == "REVOKED"  # type: ignore[index]


def test_read_many_returns_the_snapshots_that_still_exist() -> None:
    kept, gone = create_task(), create_task()
    get_redis().delete(snapshots.key(gone))
    never = new_id()
    found = snapshots.read_many([kept, gone, never])
    assert set(found) == {kept}
    assert found[kept] == snapshots.read(task_id=kept)
    assert snapshots.read_many([]) == {}


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "x",
        "../../etc/passwd",
        "1" * 36,
        "progress:task:*",
        "12345678-1234-1234-1234-1234567890ab0",  # one character too many
        "g" * 8 + "-0000-0000-0000-" + "0" * 12,
    ],
)
def test_malformed_ids_are_rejected(task_id: str) -> None:
    assert not is_valid_task_id(task_id)


def test_uuid_ids_are_accepted_in_any_case() -> None:
    task_id = new_id()
    assert is_valid_task_id(task_id)
    assert is_valid_task_id(task_id.upper())


@pytest.mark.parametrize(
    ("current", "total", "percent"),
    [(0, 100, 0), (50, 100, 50), (1, 3, 33), (5, 0, 0), (200, 100, 100), (-1, 100, 0)],
)
def test_percent_is_clamped_to_0_100(current: int, total: int, percent: int) -> None:
    assert percent_of(current, total) == percent


def test_create_refuses_past_the_owners_limit_of_unfinished_tasks() -> None:
    owner = a_new_owner()
    first = create_task(owner=owner, limit=2)
    create_task(owner=owner, limit=2)
    with pytest.raises(TooManyTasks, match="already have 2 unfinished tasks"):
        create_task(owner=owner, limit=2)
    written(first, state="SUCCESS")  # a finished task frees its slot
    create_task(owner=owner, limit=2)


def test_a_groups_subtasks_do_not_count_against_the_owners_limit() -> None:
    owner = a_new_owner()
    create_task(owner=owner, limit=2)
    for _ in range(3):
        create_task(owner=owner, indexed=False)  # a subtask: its group holds the slot
    create_task(owner=owner, limit=2)
    with pytest.raises(TooManyTasks):
        create_task(owner=owner, limit=2)


def test_parallel_creates_cannot_pass_the_limit_together() -> None:
    owner = a_new_owner()

    def attempt(_: int) -> bool:
        try:
            create_task(owner=owner, limit=3)
        except TooManyTasks:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = sum(pool.map(attempt, range(16)))
    assert created == 3


def test_reassign_gives_the_old_owners_tasks_and_their_slots_to_the_new_one() -> None:
    session, user = a_new_owner(), f"user:{uuid.uuid4().hex}"
    ids = {create_task(owner=session, limit=2) for _ in range(2)}
    assert set(indexes.reassign(old_owner=session, new_owner=user)) == ids
    for task_id in ids:
        assert snapshots.read(task_id=task_id)["owner"] == user  # type: ignore[index]
    with pytest.raises(TooManyTasks):  # the user now holds both unfinished tasks
        create_task(owner=user, limit=2)
    create_task(owner=session, limit=1)  # and the session none
    assert indexes.reassign(old_owner=a_new_owner(), new_owner=user) == []


def test_reassign_does_not_recreate_an_expired_snapshot() -> None:
    session, user = a_new_owner(), a_new_owner()
    kept, expired = create_task(owner=session), create_task(owner=session)
    get_redis().delete(snapshots.key(expired))
    indexes.reassign(old_owner=session, new_owner=user)
    assert snapshots.read(task_id=expired) is None
    assert snapshots.read(task_id=kept)["owner"] == user  # type: ignore[index]


# A group: one snapshot whose bar aggregates its subtasks, folded in by each subtask's write.


def a_group(*, parts: int = 2, callback: bool = False) -> tuple[str, list[str]]:
    """A group's snapshot and its subtasks', as progress.start creates them."""
    owner = a_new_owner()
    group_id, child_ids = new_id(), [new_id() for _ in range(parts)]
    children = [
        {
            "task_id": c,
            "name": "tests.part",
            "state": "PENDING",
            "current": 0,
            "total": 100,
            "percent": 0,
        }
        for c in child_ids
    ]
    create_snapshot(
        task_id=group_id, owner=owner, name="tests.group", children=children, callback=callback
    )
    for child_id in child_ids:
        create_snapshot(
            task_id=child_id, owner=owner, name="tests.part", parent=group_id, indexed=False
        )
    return group_id, child_ids


def child_write(child_id: str, group_id: str, **fields: Any) -> dict[str, Any] | None:
    """A subtask's write; returns its group's snapshot when the write moved it."""
    try:
        written = snapshots.record(child_id, parent=group_id, **fields)
    except TaskEnded:
        return None
    return dict(written.parent) if written.parent is not None else None


def test_a_subtasks_progress_moves_its_groups_aggregate() -> None:
    group_id, (first, _) = a_group()
    group = child_write(first, group_id, state="PROGRESS", current=50, total=100)
    assert group is not None
    assert (group["state"], group["current"], group["total"], group["percent"]) == (
        "PROGRESS",
        50,
        200,
        25,
    )
    assert group["message"] == "Running: 0 of 2 subtasks done"
    assert group["seq"] == 2
    assert re.match(TIMESTAMP_PATTERN, group["started_at"] or "")
    mine = next(c for c in group["children"] if c["task_id"] == first)
    assert (mine["state"], mine["current"], mine["percent"]) == ("PROGRESS", 50, 50)
    assert snapshots.read(task_id=group_id) == group


def test_a_group_succeeds_with_its_subtasks_results_once_all_are_done() -> None:
    group_id, (first, second) = a_group()
    group = child_write(first, group_id, state="SUCCESS", current=100, total=100, result=1)
    assert group is not None and group["message"] == "Running: 1 of 2 subtasks done"
    group = child_write(second, group_id, state="SUCCESS", current=100, total=100, result=2)
    assert group is not None
    assert (group["state"], group["percent"], group["result"]) == ("SUCCESS", 100, [1, 2])
    assert re.match(TIMESTAMP_PATTERN, group["finished_at"] or "")


def test_a_failed_subtask_fails_its_group_saying_which_and_why() -> None:
    group_id, (first, second) = a_group()
    group = child_write(first, group_id, state="FAILURE", error="ValueError: boom")
    assert group is not None
    assert group["state"] == "FAILURE"
    assert group["error"] == f"Subtask tests.part ({first}) failed: ValueError: boom"
    # The group has ended: the other subtask's writes no longer move it.
    assert child_write(second, group_id, state="SUCCESS", current=100, total=100) is None
    assert snapshots.read(task_id=group_id)["state"] == "FAILURE"  # type: ignore[index]


def test_a_chords_group_waits_for_its_callback_once_the_subtasks_are_done() -> None:
    group_id, child_ids = a_group(callback=True)
    for child_id in child_ids:
        group = child_write(child_id, group_id, state="SUCCESS", current=100, total=100)
    assert group is not None
    assert (group["state"], group["percent"]) == ("PROGRESS", 100)
    assert group["message"] == "Running: combining the results"


def test_parts_not_yet_started_count_as_the_average_of_those_that_reported() -> None:
    group_id, child_ids = a_group(parts=4)
    group = child_write(child_ids[0], group_id, state="SUCCESS", current=20, total=20)
    assert group is not None
    # One part of four done: 25 %, not 20 / (20 + 3 x 100).
    assert (group["current"], group["total"], group["percent"]) == (20, 80, 25)
    group = child_write(child_ids[1], group_id, state="PROGRESS", current=10, total=20)
    assert group is not None and group["percent"] == 37  # 30 of 80


def test_a_groups_parts_leave_no_history_record_of_their_own() -> None:
    group_id, (first, second) = a_group()
    get_redis().delete(snapshots.history_key())
    child_write(first, group_id, state="SUCCESS", current=1, total=1, result=1)
    child_write(second, group_id, state="SUCCESS", current=1, total=1, result=2)
    records = [json.loads(r) for r in get_redis().lrange(snapshots.history_key(), 0, -1)]
    assert [record["task_id"] for record in records] == [group_id]
    assert records[0]["state"] == "SUCCESS" and records[0]["result"] == [1, 2]
