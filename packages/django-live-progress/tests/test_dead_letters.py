"""The history path in the database: refused records listed and retried, bursts read whole,
records on their way at a login given to the user."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.management import call_command

from live_progress.models import TaskRun
from live_progress.store import drain, history, indexes, snapshots
from live_progress.store.client import get_redis

pytestmark = pytest.mark.django_db(transaction=True)


def letter(record: dict[str, object] | str, reason: str) -> str:
    text = record if isinstance(record, str) else json.dumps(record)
    return json.dumps({"record": text, "reason": reason, "at": snapshots.now_iso()})


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("progress_dead_letters", *args, stdout=out)
    return out.getvalue()


def test_refused_records_are_listed_then_written_again_once_fixed() -> None:
    redis = get_redis()
    redis.delete(drain.dead_key())
    fine = snapshots.new_snapshot(task_id=str(uuid.uuid4()), name="tests.fine", owner="session:d")
    still_bad = {**fine, "task_id": "not-a-task-id" * 10}  # longer than the column
    redis.rpush(
        drain.dead_key(),
        letter(fine, "OperationalError: the disk was full"),
        letter(still_bad, "DataError: value too long"),
        "not even JSON",
    )

    listed = run()
    assert listed.splitlines()[0] == "3 record(s) set aside."
    assert "the disk was full" in listed and "value too long" in listed

    retried = run("--retry")
    assert retried.strip() == "Retried 3 record(s): 1 written, 2 still refused."
    assert TaskRun.objects.get(task_id=fine["task_id"]).name == "tests.fine"
    left = redis.lrange(drain.dead_key(), 0, -1)
    assert "not even JSON" in left  # no record in it: kept as it was
    (again,) = [json.loads(text) for text in left if text != "not even JSON"]
    assert json.loads(again["record"])["task_id"] == still_bad["task_id"]
    assert again["reason"] != "DataError: value too long"  # refused again, saying why now
    assert drain.waiting() == 0


def test_a_read_after_a_burst_of_starts_finds_the_last_one() -> None:
    """A start leaves its row to the drain: a read right after 1,100 starts (more than two
    batches) still finds the newest one's row."""
    while drain.drain() == drain.DRAIN_BATCH:  # what earlier tests left
        pass
    owner = f"session:{uuid.uuid4().hex}"
    ids = []
    for _ in range(1_100):
        fields = snapshots.new_snapshot(task_id=str(uuid.uuid4()), name="tests.burst", owner=owner)
        ids.append(snapshots.create(fields)["task_id"])
    try:
        assert drain.waiting() >= 1_100
        run = history.find(ids[-1])
        assert run is not None and run.owner == owner
        assert history.runs(owner=owner).count() == 1_100
    finally:  # they would count against everyone's limit in the later tests
        for task_id in ids:
            snapshots.change(task_id, state="REVOKED", message="Cancelled")


def test_records_on_their_way_at_a_login_are_written_for_the_user() -> None:
    """A session's task ended; its records wait in Redis (or in a drainer's batch) while the
    session logs in and the login's update of the history runs: written afterwards, the
    rows still go to the user."""
    session, user = f"session:{uuid.uuid4().hex}", f"user:{uuid.uuid4().int % 10**9}"
    created = snapshots.create(
        snapshots.new_snapshot(task_id=str(uuid.uuid4()), name="tests.login", owner=session)
    )
    snapshots.record(created["task_id"], state="SUCCESS", finished_at=snapshots.now_iso())
    indexes.reassign(old_owner=session, new_owner=user)
    assert TaskRun.objects.filter(task_id=created["task_id"]).count() == 0  # not written yet
    while drain.drain():
        pass
    assert TaskRun.objects.get(task_id=created["task_id"]).owner == user
