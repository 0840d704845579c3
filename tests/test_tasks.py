"""Tasks on a real worker: the project's, and a user's own, however they are sent."""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
import redis
from celery import chain, chord, group
from celery.result import AsyncResult, GroupResult

from django_starter.celery import app as celery_app
from django_starter.tasks import demo_task, long_running_task
from live_progress.store import snapshots
from live_progress.store.snapshot import Stored
from live_progress.web import services
from tests.support.live import cookie_header, follow, start_task
from tests.support.processes import Proc, stack_env, start_worker, wait_for
from tests.support.tasks import Published
from tests.taskapp.tasks import add, failing_part, import_rows

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def ended(task_id: str, timeout: float = 60) -> Stored:
    """Wait for a task's snapshot to reach a terminal state; return it."""

    def terminal() -> Stored | None:
        stored = snapshots.read(task_id=task_id)
        return stored if stored and stored["state"] in {"SUCCESS", "FAILURE", "REVOKED"} else None

    stored: Stored = wait_for(terminal, timeout=timeout, what=f"task {task_id} to end")
    return stored


def test_demo_task_turns_success_once_a_worker_runs_it(worker: Proc) -> None:
    result = demo_task.delay()
    assert result.get(timeout=30) == "pong"
    assert result.status == "SUCCESS"


def test_a_direct_call_runs_without_a_worker_and_records_nothing() -> None:
    # Outside a worker `progress.set` is a no-op, so the function stays callable and testable.
    assert long_running_task(steps=3, delay=0)["steps"] == 3


def test_a_users_own_task_sent_with_delay_succeeds_with_a_staff_only_snapshot(
    worker: Proc,
) -> None:
    result = import_rows.delay(rows=5)
    assert result.get(timeout=30) == 5  # never cancelled by the progress system
    assert result.status == "SUCCESS"
    stored = ended(result.id)
    assert stored["state"] == "SUCCESS" and stored["result"] == 5
    assert (stored["current"], stored["total"], stored["percent"]) == (5, 5, 100)
    assert stored["name"] == "tests.taskapp.tasks.import_rows"
    assert stored["owner"] == ""
    assert stored["started_at"] and stored["finished_at"]
    assert services.snapshot(task_id=result.id, owner="session:anyone", is_staff=False) is None
    as_staff = services.snapshot(task_id=result.id, owner=None, is_staff=True)
    assert as_staff is not None and as_staff["state"] == "SUCCESS"


def test_own_tasks_in_a_chain_and_a_group_each_get_their_snapshot(worker: Proc) -> None:
    chained = chain(import_rows.si(rows=3), import_rows.si(rows=4)).apply_async()
    assert chained.get(timeout=30) == 4
    grouped = group(import_rows.s(rows=n) for n in (2, 3)).apply_async()
    assert grouped.get(timeout=30) == [2, 3]
    first = cast(AsyncResult[Any], chained.parent)
    ids = [first.id, chained.id, *(r.id for r in cast(GroupResult, grouped).results or [])]
    assert [ended(task_id)["result"] for task_id in ids] == [3, 4, 2, 3]


def test_an_untracked_task_leaves_no_snapshot_and_sends_no_command_of_ours(
    worker: Proc, redis_url: str
) -> None:
    # Per-task commands of ours (the history drainer's LPOP each second is per worker).
    ours = ("progress:task:", "progress:events:", "progress:owner:", "progress:queued:")
    seen: list[str] = []
    stop = threading.Event()
    monitor_client = redis.Redis.from_url(redis_url, decode_responses=True)

    def watch() -> None:
        with monitor_client.monitor() as monitor:  # type: ignore[no-untyped-call]
            for command in monitor.listen():
                seen.append(command["command"])
                if stop.is_set():
                    return

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    wait_for(lambda: bool(seen), timeout=10, what="MONITOR to see the heartbeat")
    result = add.delay(2, 3)
    assert result.get(timeout=30) == 5
    marker = import_rows.delay(rows=1)  # a tracked task after it: MONITOR saw past the first
    marker.get(timeout=30)
    wait_for(lambda: any(marker.id in c and "EVAL" in c for c in seen), timeout=10, what="marker")
    stop.set()
    monitor_client.ping()
    watcher.join(timeout=10)
    before_marker = seen[: next(i for i, c in enumerate(seen) if marker.id in c)]
    assert any(result.id in c for c in before_marker), "MONITOR saw the untracked task run"
    assert not [c for c in before_marker if any(word in c for word in ours)]
    assert snapshots.read(task_id=result.id) is None


def test_many_tasks_in_one_worker_process_all_publish_to_the_end(
    redis_url: str, tmp_path: Path
) -> None:
    """25 tasks run one after another in a single pool process; every task's changes are
    published on its channel, in order, ending with SUCCESS."""
    queue = f"one-process-{uuid.uuid4().hex[:6]}"
    task_ids = [
        services.start(
            long_running_task.s(steps=20, delay=0.01).set(queue=queue),
            owner="session:many",
            limited=False,
        )["task_id"]
        for _ in range(25)
    ]
    published = Published(task_ids)  # subscribed before any worker takes them
    proc = start_worker(
        stack_env(redis_url=redis_url), log_dir=tmp_path, concurrency=1, queues=queue
    )
    received: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in task_ids}
    try:
        while sum(m[-1]["state"] == "SUCCESS" for m in received.values() if m) < 25:
            snapshot = published.next(timeout=60)
            received[snapshot["task_id"]].append(snapshot)
        for task_id, messages in received.items():
            states = [m["state"] for m in messages]
            assert states[0] == "STARTED" and states[-1] == "SUCCESS", (task_id, states)
            assert "PROGRESS" in states
            seqs = [m["seq"] for m in messages]
            assert seqs == sorted(set(seqs)), "published in order, each once"
            assert messages[-1]["percent"] == 100
        # The worker logs "succeeded" just after the SUCCESS snapshot went out.
        wait_for(lambda: proc.log().count("succeeded in") == 25, timeout=30, what="25 logs")
        log = proc.log()
        assert "could not store progress" not in log
        pool_processes = {
            line.split("ForkPoolWorker-")[1].split("]")[0]
            for line in log.splitlines()
            if "ForkPoolWorker-" in line
        }
        assert len(pool_processes) == 1
    finally:
        published.close()
        proc.stop()


async def test_parallel_demo_shows_one_rising_bar_and_ends_with_the_callback(
    live_server_url: str, worker: Proc
) -> None:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        started = await start_task(
            client, task="parallel_demo", kwargs={"parts": 3, "steps": 10, "delay": 0.05}
        )
        watch = await follow(live_server_url, started["ws_url"], cookie=cookie_header(client))
    messages = watch.messages
    assert {m["task_id"] for m in messages} == {started["task_id"]}
    assert messages[-1]["state"] == "SUCCESS"
    assert messages[-1]["result"] == {"parts": 3, "steps": 30}
    percents = [m["percent"] for m in messages]
    assert percents == sorted(percents), "the aggregate only rises"
    assert len(set(percents)) >= 4, "intermediate aggregates reach the socket"
    assert [c["state"] for c in messages[-1]["children"]] == ["SUCCESS"] * 3
    assert sum(c["current"] for c in messages[-1]["children"]) == 30
    assert any(0 < m["percent"] < 100 for m in messages)


def test_a_failing_child_fails_its_group_naming_it(worker: Proc) -> None:
    canvas = chord([failing_part.s(1), failing_part.s(2, fail=True)], add.s(0).set())
    started = services.start(canvas, owner="session:groups", name="two parts")
    stored = ended(started["task_id"])
    assert stored["state"] == "FAILURE"
    failed = next(c for c in stored["children"] or [] if c["state"] == "FAILURE")
    assert failed["task_id"] in str(stored["error"])
    assert "part 2 broke" in str(stored["error"])


def test_a_plain_group_ends_when_its_last_subtask_does(worker: Proc) -> None:
    started = services.start(
        group(import_rows.s(rows=n) for n in (2, 3)), owner="session:groups", name="rows"
    )
    stored = ended(started["task_id"])
    assert stored["state"] == "SUCCESS"
    assert stored["result"] == [2, 3]
    assert (stored["current"], stored["total"], stored["percent"]) == (5, 5, 100)


def test_a_task_no_worker_knows_ends_in_failure_saying_why(worker: Proc) -> None:
    signature = celery_app.signature("django_starter.tasks.renamed_long_ago")
    started = services.start(signature, owner="session:unknown")
    stored = ended(started["task_id"])
    assert "no task named 'django_starter.tasks.renamed_long_ago'" in str(stored["error"])
    assert "celery -A django_starter worker -l info" in str(stored["error"])
    assert "renamed or removed" in str(stored["error"])


def test_a_subtask_no_worker_knows_fails_its_group(worker: Proc) -> None:
    unknown = celery_app.signature("tests.taskapp.tasks.no_such_task")
    started = services.start(group(unknown, add.s(1, 2)), owner="session:groups", name="g")
    stored = ended(started["task_id"])
    assert stored["state"] == "FAILURE"
    assert "no task named 'tests.taskapp.tasks.no_such_task'" in str(stored["error"])


def test_cancelling_one_subtask_ends_its_group_saying_so() -> None:
    # On a queue no worker consumes: the subtasks wait, so the cancel always lands first.
    canvas = group(
        add.s(1, 2).set(queue="nobody-consumes"), add.s(3, 4).set(queue="nobody-consumes")
    )
    started = services.start(canvas, owner="session:cancel-one", name="g")
    child = (started["children"] or [])[0]["task_id"]
    services.cancel(task_id=child, owner="session:cancel-one", is_staff=False)
    stored = snapshots.read(task_id=started["task_id"])
    assert stored is not None and stored["state"] == "FAILURE"
    assert f"({child}) was cancelled" in str(stored["error"])
    celery_app.control.purge()
