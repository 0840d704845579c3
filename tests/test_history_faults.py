"""Nothing is lost between Redis and the database: the history under faults (issue 16).

Each test runs on real parts: the session's Redis and test database in this process, or
a private stack (redis-server, SQLite file, Daphne, a Celery worker) and `manage.py
shell` processes that are killed with SIGKILL halfway; PostgreSQL when one answers.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sqlite3
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from django.core.management import call_command
from django.test import Client

from live_progress.models import TaskRun
from live_progress.store import drain, history, snapshots
from live_progress.store.client import get_redis
from live_progress.worker.recorder import Recorder
from tests.support.processes import (
    Proc,
    RedisServer,
    manage_shell,
    migrate,
    stack_env,
    wait_for,
)
from tests.support.stack import PrivateStack
from tests.support.tasks import TEST_TASK, create_task

POSTGRES_ADMIN = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def shell(env: dict[str, str], code: str) -> Any:
    """Run `code` in `manage.py shell` on `env`'s database and Redis; its last line, as JSON."""
    return json.loads(manage_shell(env, code).strip().splitlines()[-1])


KEYS = """
import json
from live_progress.store import drain, snapshots
print(json.dumps({"waiting": snapshots.history_key(), "dead": drain.dead_key()}))
"""

# Twenty tasks that end, made in the store alone: their records wait on the history list.
TWENTY_ENDED = """
import json, uuid
from live_progress.store import snapshots
ids = []
for i in range(20):
    stored = snapshots.create(snapshots.new_snapshot(
        task_id=str(uuid.uuid4()), name="tests.some_task", owner="session:kill"))
    snapshots.record(stored["task_id"], state="SUCCESS", current=1, total=1, result={"i": i})
    ids.append(stored["task_id"])
print(json.dumps(ids))
"""


def ended_record(task_id: str, **fields: Any) -> dict[str, Any]:
    """The history record of a task that ended, as the store's script writes it."""
    return {
        "task_id": task_id,
        "name": TEST_TASK,
        "state": "FAILURE",
        "current": 1,
        "total": 4,
        "percent": 25,
        "message": "Failed",
        "result": None,
        "error": "boom",
        "seq": 3,
        "started_at": snapshots.now_iso(),
        "updated_at": snapshots.now_iso(),
        "finished_at": snapshots.now_iso(),
        "children": None,
        "owner": "session:faults",
        "created": time.time(),
        **fields,
    }


def dead_reasons() -> list[str]:
    return [json.loads(raw)["reason"] for raw in get_redis().lrange(drain.dead_key(), 0, -1)]


@pytest.fixture
def empty_history_lists() -> Iterator[None]:
    keys = [snapshots.history_key(), drain.dead_key()]
    get_redis().delete(*keys)
    yield
    get_redis().delete(*keys)


# ---------------------------------------------------------------------------
# 1. A record the database refuses never blocks the others
# ---------------------------------------------------------------------------
@pytest.mark.django_db
@pytest.mark.usefixtures("empty_history_lists")
def test_a_record_the_database_refuses_is_set_aside_and_the_others_are_written() -> None:
    good, negative, too_long = (str(uuid.uuid4()) for _ in range(3))
    records = [
        json.dumps(ended_record(good, error="a NUL \x00 in it", result={"k\x00": ["\x00v"]})),
        json.dumps(ended_record(negative, seq=-1)),  # SQLite's CHECK (seq >= 0) refuses it
        json.dumps(ended_record(too_long, owner="session:" + "x" * 200)),
        '{"task_id": "cut off',  # not a record at all
    ]
    get_redis().rpush(snapshots.history_key(), *records)
    assert history.waiting() == 4
    assert history.drain() == 4
    row = TaskRun.objects.get(task_id=good)
    assert (row.state, row.error, row.result) == ("FAILURE", "a NUL  in it", {"k": ["v"]})
    assert not TaskRun.objects.filter(task_id__in=[negative, too_long]).exists()
    assert (history.waiting(), history.dead_letters()) == (0, 3)
    reasons = dead_reasons()
    assert reasons[0].startswith("JSONDecodeError")
    assert any(r.startswith("IntegrityError") and "CHECK" in r for r in reasons)
    assert any("owner is longer than its column" in r for r in reasons)
    assert history.drain() == 0  # nothing left over, nothing taken twice


@pytest.mark.slow  # starts processes of its own
@pytest.mark.django_db
@pytest.mark.usefixtures("empty_history_lists")
def test_health_and_doctor_count_the_records_waiting_and_set_aside() -> None:
    refused = json.dumps(ended_record(str(uuid.uuid4()), owner="user:" + "9" * 200))
    get_redis().rpush(snapshots.history_key(), refused)
    history.drain()
    get_redis().rpush(snapshots.history_key(), json.dumps(ended_record(str(uuid.uuid4()))))

    report = Client().get("/health/").json()
    assert report["history"] == {"waiting": 1, "dead": 1}
    assert "redis" in report and "database" in report  # the other fields stay
    out = io.StringIO()
    with contextlib.suppress(SystemExit):  # exits 1 when no worker runs (none needed here)
        call_command("doctor", "--json", stdout=out)
    database = json.loads(out.getvalue())["checks"]["database"]
    assert database["history"] == {"waiting": 1, "dead": 1}
    assert "1 history record(s) waiting" in database["summary"]
    assert "1 history record(s) refused by the database" in database["summary"]


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """DATABASE_URL of a fresh PostgreSQL database, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True)
    except psycopg.Error as error:
        pytest.skip(
            f"PostgreSQL does not answer at {POSTGRES_ADMIN} ({' '.join(str(error).split())})"
        )
    name = f"starter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        admin.close()
        pytest.skip(f"cannot create a database on {POSTGRES_ADMIN}: {error}")
    try:
        yield f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{name}".replace("postgresql://", "postgres://")
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


PG_DRAIN = """
import json, uuid
from live_progress.store import drain, history, snapshots
from live_progress.store.client import get_redis
nul = snapshots.create(snapshots.new_snapshot(
    task_id=str(uuid.uuid4()), name="tests.nul\\x00name", owner="session:pg", message="\\x00"))
snapshots.record(nul["task_id"], state="FAILURE", error="bad \\x00 byte",
                 result={"why\\x00": "\\x00\\ud800"}, finished_at=snapshots.now_iso())
plain = snapshots.create(snapshots.new_snapshot(
    task_id=str(uuid.uuid4()), name="tests.plain", owner="session:pg"))
snapshots.record(plain["task_id"], state="SUCCESS", result=1)
huge = str(uuid.uuid4())  # a seq past PostgreSQL's integer: refused by the database itself
get_redis().rpush(snapshots.history_key(), json.dumps({**plain, "task_id": huge, "seq": 2**40}))
taken = history.drain()
reasons = [json.loads(r)["reason"] for r in get_redis().lrange(drain.dead_key(), 0, -1)]
print(json.dumps({"taken": taken, "ids": [nul["task_id"], plain["task_id"], huge],
    "waiting": history.waiting(), "reasons": reasons}))
"""


@pytest.mark.slow  # starts processes of its own
def test_postgres_keeps_a_task_whose_error_has_a_nul_character(
    tmp_path: Path, postgres_url: str
) -> None:
    import psycopg

    server = RedisServer().start()
    try:
        env = stack_env(redis_url=server.url, DATABASE_URL=postgres_url)
        migrate(env)
        out = shell(env, PG_DRAIN)
    finally:
        server.stop()
    nul, plain, _ = out["ids"]
    assert (out["taken"], out["waiting"]) == (5, 0)  # two tasks' starts and ends, and `huge`
    assert len(out["reasons"]) == 1 and out["reasons"][0].startswith("DataError")
    with psycopg.connect(postgres_url) as conn:
        found: dict[str, tuple[Any, ...]] = dict(
            conn.execute(
                "SELECT task_id, (state, error, result::text, name) FROM live_progress_taskrun"
            ).fetchall()
        )
    assert set(found) == {nul, plain}  # the refused one alone is left out
    assert found[nul] == ("FAILURE", "bad  byte", '{"why": "?"}', "tests.nulname")
    assert found[plain][0] == "SUCCESS"


# ---------------------------------------------------------------------------
# 2. An owner, once written, is never overwritten by an empty one
# ---------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_snapshot_made_again_without_owner_keeps_the_rows_owner_and_its_reader() -> None:
    task_id = create_task(owner="session:mine")
    history.drain()  # the row of its start
    recorder = Recorder(task_id, name=TEST_TASK, interval=0)
    recorder.exists = True
    recorder.set(1, total=4)
    get_redis().delete(snapshots.key(task_id))  # flushed or evicted mid-run
    # Made again with no owner (the recorder asks the history for it; here it could not).
    again = snapshots.new_snapshot(task_id=task_id, name=TEST_TASK, owner="")
    snapshots.record(task_id, create_as=again, state="PROGRESS", current=2, message="two")
    assert snapshots.read(task_id=task_id)["owner"] == ""  # type: ignore[index]
    history.drain()
    assert TaskRun.objects.get(task_id=task_id).owner == "session:mine"

    mine, other = Client(), Client()
    session = mine.session
    session["progress_owner"] = "mine"
    session.save()
    answer = mine.get(f"/tasks/{task_id}/")
    assert answer.status_code == 200 and answer.json()["message"] == "two"
    assert other.get(f"/tasks/{task_id}/").status_code == 404

    snapshots.record(task_id, state="SUCCESS", current=4, total=4, result=4)
    history.drain()  # its end, still ownerless in Redis
    row = TaskRun.objects.get(task_id=task_id)
    assert (row.state, row.owner) == ("SUCCESS", "session:mine")
    get_redis().delete(snapshots.key(task_id))
    assert mine.get(f"/tasks/{task_id}/").json()["state"] == "SUCCESS"


# ---------------------------------------------------------------------------
# 3. A start never waits for the database; its row is written later, and listed meanwhile
# ---------------------------------------------------------------------------
class WriteLock:
    """Another program writing to the SQLite file: it holds the write lock for `seconds`."""

    def __init__(self, path: Path, seconds: float) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.conn.execute("BEGIN IMMEDIATE")
        self.timer = threading.Timer(seconds, self.release)
        self.timer.start()

    def release(self) -> None:
        self.timer.cancel()
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")


def rows_of(path: Path) -> dict[str, tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        found = conn.execute(
            "SELECT task_id, owner, state, kwargs_summary FROM live_progress_taskrun"
        ).fetchall()
    return {row[0]: row[1:] for row in found}


def start_over_http(client: httpx.Client) -> dict[str, Any]:
    client.get("/")
    body = {"task": "long_running_task", "kwargs": {"steps": 3}}
    headers = {"X-CSRFToken": client.cookies["csrftoken"]}
    answer = client.post("/tasks/", json=body, headers=headers)
    assert answer.status_code == 202, answer.text
    return dict(answer.json())


@pytest.mark.slow  # starts processes of its own
def test_a_start_while_sqlite_is_locked_is_listed_at_once_and_written_later(
    tmp_path: Path,
) -> None:
    database = tmp_path / "db.sqlite3"
    url = f"sqlite:///{database}?timeout=2"  # SQLite's wait for a lock, shortened for the test
    with (
        PrivateStack(tmp_path, DATABASE_URL=url) as stack,
        httpx.Client(base_url=stack.base_url, timeout=30) as client,
    ):
        assert sqlite3.connect(database).execute("PRAGMA journal_mode").fetchone() == ("wal",)
        keys = shell(stack.env, KEYS)
        # Busy for a second: a read of the history waits, and writes what the start left.
        lock = WriteLock(database, seconds=1)
        waited = start_over_http(client)["task_id"]
        assert client.get("/tasks/").json()["tasks"][0]["task_id"] == waited
        assert rows_of(database)[waited][1] == "PENDING"  # written by that read
        lock.release()

        # Busy for longer than SQLite waits: a start does not wait for the database at
        # all, the row waits in Redis, and the task is listed.
        lock = WriteLock(database, seconds=60)
        try:
            task_id = start_over_http(client)["task_id"]
            assert task_id not in rows_of(database)
            listed = client.get("/tasks/").json()
            assert [t["task_id"] for t in listed["tasks"]] == [task_id, waited]
            assert listed["count"] == 2
            assert client.get(f"/tasks/{task_id}/").status_code == 200
        finally:
            lock.release()
        listed = client.get("/tasks/").json()  # this read writes what waited
        assert [t["task_id"] for t in listed["tasks"]] == [task_id, waited]
        owner, state, kwargs = rows_of(database)[task_id]
        assert owner.startswith("session:") and state == "PENDING"
        assert json.loads(kwargs)["steps"] == 3
        plain = redis.Redis.from_url(stack.redis.url)
        assert (plain.llen(keys["waiting"]), plain.llen(keys["dead"])) == (0, 0)
        assert "database is locked" in stack.daphne.log()  # type: ignore[union-attr]


# ---------------------------------------------------------------------------
# 4. At least once: a drainer killed mid-batch loses nothing, and nothing is doubled
# ---------------------------------------------------------------------------
DRAIN_WITH_SHORT_LEASE = """
from live_progress.store import drain
drain.drain(lease=2)
print("[]")
"""


@pytest.mark.slow  # starts processes of its own
def test_a_drainer_killed_mid_batch_loses_nothing(tmp_path: Path) -> None:
    database = tmp_path / "db.sqlite3"
    with PrivateStack(tmp_path) as stack:
        keys = shell(stack.env, KEYS)
        ids = shell(stack.env, TWENTY_ENDED)
        plain = redis.Redis.from_url(stack.redis.url, decode_responses=True)
        assert plain.llen(keys["waiting"]) == 40  # each task's start and end
        lock = WriteLock(database, seconds=60)  # the drainer takes its batch, then waits
        try:
            drainer = Proc(
                "drainer",
                [sys.executable, "manage.py", "shell", "-c", DRAIN_WITH_SHORT_LEASE],
                env=stack.env,
                log_dir=tmp_path,
            )
            wait_for(
                lambda: plain.hlen(f"{keys['waiting']}:leases") == 1,
                what="the drainer's leased batch",
            )
            assert plain.llen(keys["waiting"]) == 0  # taken, not written
            drainer.signal(signal.SIGKILL)
            drainer.popen.wait(10)
            drainer.stop()
        finally:
            lock.release()
        assert rows_of(database) == {}

        stack.start_worker()  # its drainer takes the dead one's batch back once the lease ends
        rows = wait_for(
            lambda: len(found := rows_of(database)) == 20 and found,
            timeout=30,
            what="the twenty rows",
        )
        assert set(rows) == set(ids)
        assert {row[1] for row in rows.values()} == {"SUCCESS"}
        wait_for(lambda: plain.hlen(f"{keys['waiting']}:batches") == 0, what="acknowledged")
        assert plain.hlen(f"{keys['waiting']}:leases") == 0
        assert (plain.llen(keys["waiting"]), plain.llen(keys["dead"])) == (0, 0)
        with sqlite3.connect(database) as conn:
            assert conn.execute("SELECT COUNT(*) FROM live_progress_taskrun").fetchone() == (20,)
