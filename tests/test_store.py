"""progress/store.py against the real Redis: seq, ownership index, terminal guard, ids."""

from __future__ import annotations

import uuid

import pytest

from progress import store
from tests.support.expected import SNAPSHOT_FIELDS


def new_id() -> str:
    return str(uuid.uuid4())


def test_create_records_a_pending_task_with_seq_1() -> None:
    task_id = new_id()
    snapshot = store.create(task_id=task_id, owner="session:abc")
    assert snapshot["state"] == "PENDING"
    assert snapshot["seq"] == 1
    assert snapshot["percent"] == 0
    assert snapshot["owner"] == "session:abc"
    assert store.read(task_id=task_id) == snapshot


def test_create_twice_is_refused() -> None:
    task_id = new_id()
    store.create(task_id=task_id, owner="session:abc")
    with pytest.raises(ValueError, match="already exists"):
        store.create(task_id=task_id, owner="session:other")
    assert store.read(task_id=task_id)["owner"] == "session:abc"  # type: ignore[index]


def test_every_update_bumps_seq_and_computes_percent() -> None:
    task_id = new_id()
    store.create(task_id=task_id, owner="o")
    first = store.update(task_id=task_id, state="PROGRESS", current=1, total=4)
    second = store.update(task_id=task_id, state="PROGRESS", current=3, total=4)
    assert first is not None and second is not None
    assert (first["seq"], first["percent"]) == (2, 25)
    assert (second["seq"], second["percent"]) == (3, 75)


def test_terminal_state_refuses_later_writes() -> None:
    task_id = new_id()
    store.create(task_id=task_id, owner="o")
    store.update(task_id=task_id, state="SUCCESS", current=100, total=100)
    assert store.update(task_id=task_id, state="PROGRESS", current=5, total=100) is None
    snapshot = store.read(task_id=task_id)
    assert snapshot is not None
    assert snapshot["state"] == "SUCCESS"
    assert snapshot["seq"] == 2


def test_public_hides_owner_and_creation_time() -> None:
    task_id = new_id()
    public = store.public(store.create(task_id=task_id, owner="secret-owner"))
    assert "owner" not in public and "created" not in public
    assert set(public) == SNAPSHOT_FIELDS


def test_recent_task_ids_are_the_owners_newest_first() -> None:
    owner = f"session:{uuid.uuid4().hex}"
    ids = [new_id() for _ in range(3)]
    for task_id in ids:
        store.create(task_id=task_id, owner=owner)
    store.create(task_id=new_id(), owner="someone-else")
    assert store.recent_task_ids(owner=owner) == list(reversed(ids))


@pytest.mark.parametrize(
    "task_id",
    [
        "",
        "x",
        "../../etc/passwd",
        "1" * 36,
        "progress:task:*",
        str(uuid.uuid4()) + "0",
        "g" * 8 + "-0000-0000-0000-" + "0" * 12,
    ],
)
def test_malformed_ids_are_rejected(task_id: str) -> None:
    assert not store.is_valid_task_id(task_id)


def test_uuid_ids_are_accepted_in_any_case() -> None:
    task_id = new_id()
    assert store.is_valid_task_id(task_id)
    assert store.is_valid_task_id(task_id.upper())


@pytest.mark.parametrize(
    ("current", "total", "percent"),
    [(0, 100, 0), (50, 100, 50), (1, 3, 33), (5, 0, 0), (200, 100, 100), (-1, 100, 0)],
)
def test_percent_is_clamped_to_0_100(current: int, total: int, percent: int) -> None:
    assert store.percent_of(current, total) == percent


def test_updates_of_an_unknown_task_are_refused_and_create_nothing() -> None:
    """Tasks started elsewhere (`demo_task.delay()`) get no snapshot: only `create` makes one."""
    task_id = new_id()
    assert store.update(task_id=task_id, state="STARTED") is None
    assert store.read(task_id=task_id) is None


def test_create_refuses_past_the_owners_limit_of_unfinished_tasks() -> None:
    owner = f"session:{uuid.uuid4().hex}"
    first, second = new_id(), new_id()
    store.create(task_id=first, owner=owner, limit=2)
    store.create(task_id=second, owner=owner, limit=2)
    with pytest.raises(store.TooManyTasks, match="already have 2 unfinished tasks"):
        store.create(task_id=new_id(), owner=owner, limit=2)
    store.update(task_id=first, state="SUCCESS")  # a finished task frees its slot
    store.create(task_id=new_id(), owner=owner, limit=2)


def test_parallel_creates_cannot_pass_the_limit_together() -> None:
    from concurrent.futures import ThreadPoolExecutor

    owner = f"session:{uuid.uuid4().hex}"

    def attempt(_: int) -> bool:
        try:
            store.create(task_id=new_id(), owner=owner, limit=3)
        except store.TooManyTasks:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        created = sum(pool.map(attempt, range(16)))
    assert created == 3


def test_recent_task_ids_skip_expired_snapshots() -> None:
    from progress.redis_client import get_redis

    owner = f"session:{uuid.uuid4().hex}"
    kept, expired = new_id(), new_id()
    store.create(task_id=kept, owner=owner)
    store.create(task_id=expired, owner=owner)
    get_redis().delete(f"{store.KEY_PREFIX}{expired}")
    assert store.recent_task_ids(owner=owner) == [kept]
