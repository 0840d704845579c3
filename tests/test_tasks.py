"""The seed's tasks on a real worker: demo_task, and many progress tasks in one worker process."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from channels.layers import get_channel_layer

from django_starter.celery import app as celery_app
from django_starter.tasks import demo_task, long_running_task
from progress import broadcast, store
from tests.support.processes import Proc, stack_env, start_worker, wait_for

pytestmark = [pytest.mark.slow]


def test_demo_task_turns_success_once_a_worker_runs_it(worker: Proc) -> None:
    result = demo_task.delay()
    assert result.get(timeout=30) == "pong"
    assert result.status == "SUCCESS"


def test_a_direct_call_runs_without_a_worker_and_records_nothing() -> None:
    # Outside a worker `progress.set` is a no-op, so the function stays callable and testable.
    assert long_running_task(steps=3, delay=0)["steps"] == 3


def test_many_tasks_in_one_worker_process_publish_without_event_loop_errors(
    redis_url: str, tmp_path: Path
) -> None:
    """channels_redis 4 breaks async_to_sync(group_send) in sync workers; our publisher must not.

    25 tasks run one after another in a single pool process; every task's messages must
    reach its Channels group, ending with SUCCESS.
    """
    queue = f"one-process-{uuid.uuid4().hex[:6]}"
    proc = start_worker(
        stack_env(redis_url=redis_url), log_dir=tmp_path, concurrency=1, queues=queue
    )
    task_ids = [str(uuid.uuid4()) for _ in range(25)]

    async def run_and_listen() -> dict[str, list[dict[str, Any]]]:
        layer = get_channel_layer()
        channel = await layer.new_channel()
        for task_id in task_ids:
            await layer.group_add(broadcast.group_name(task_id), channel)
        for task_id in task_ids:
            store.create(task_id=task_id, owner="session:many")
            long_running_task.apply_async(
                kwargs={"steps": 20, "delay": 0.01}, task_id=task_id, queue=queue
            )
        received: dict[str, list[dict[str, Any]]] = {task_id: [] for task_id in task_ids}
        async with asyncio.timeout(120):
            while sum(m[-1]["state"] == "SUCCESS" for m in received.values() if m) < 25:
                snapshot = (await layer.receive(channel))["snapshot"]
                received[snapshot["task_id"]].append(snapshot)
        return received

    try:
        received = asyncio.run(run_and_listen())
        for task_id, messages in received.items():
            states = [m["state"] for m in messages]
            assert states[0] == "STARTED" and states[-1] == "SUCCESS", (task_id, states)
            assert "PROGRESS" in states
            assert messages[-1]["percent"] == 100
        log = proc.log()
        assert "Event loop is closed" not in log
        assert "could not publish progress" not in log
        assert log.count("succeeded in") == 25
        # All 25 ran in the one pool process.
        assert (
            len(
                {
                    line.split("ForkPoolWorker-")[1].split("]")[0]
                    for line in log.splitlines()
                    if "ForkPoolWorker-" in line
                }
            )
            == 1
        )
    finally:
        proc.stop()


def test_a_task_no_worker_knows_ends_in_failure_saying_why(worker: Proc) -> None:
    task_id = str(uuid.uuid4())
    store.create(task_id=task_id, owner="session:unknown")
    celery_app.send_task("django_starter.tasks.renamed_long_ago", task_id=task_id)

    def failed() -> dict[str, Any] | None:
        snapshot = store.read(task_id=task_id)
        return snapshot if snapshot and snapshot["state"] == "FAILURE" else None

    snapshot = wait_for(failed, timeout=30, what="the unknown task to be reported")
    assert "does not know the task 'django_starter.tasks.renamed_long_ago'" in snapshot["error"]
    assert "celery -A django_starter worker -l info" in snapshot["error"]
