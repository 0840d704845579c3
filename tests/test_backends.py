"""The stack on the services a deployment picks: PostgreSQL and RabbitMQ, on real servers.

Each test runs the real stack (a private Redis, Daphne, a Celery worker) against a
private piece of a server on loopback: a database it creates and drops, or a RabbitMQ
vhost it adds and deletes. When the server does not answer the test skips and says so.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.live import Watch, cookie_header, csrf_headers, last_state, start_task
from tests.support.processes import free_port, run_doctor, wait_for
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]

POSTGRES_ADMIN = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RABBITMQ_HOST = os.environ.get("TEST_RABBITMQ_HOST", "127.0.0.1:5672")


# ---------------------------------------------------------------------------
# PostgreSQL: a database of our own, created and dropped here
# ---------------------------------------------------------------------------
@pytest.fixture
def postgres_url() -> Iterator[str]:
    """DATABASE_URL of a fresh PostgreSQL database, dropped afterwards."""
    import psycopg

    try:
        admin = psycopg.connect(POSTGRES_ADMIN, connect_timeout=3, autocommit=True)
    except psycopg.Error as error:
        reason = " ".join(str(error).split())
        pytest.skip(f"PostgreSQL does not answer at {POSTGRES_ADMIN} ({reason})")
    name = f"starter_test_{uuid.uuid4().hex[:12]}"
    try:
        admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as error:
        admin.close()
        pytest.skip(f"cannot create a database on {POSTGRES_ADMIN}: {error}")
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}".replace("postgresql://", "postgres://", 1)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def taskrun_row(database_url: str, task_id: str) -> dict[str, Any] | None:
    """The task's history row, read from PostgreSQL directly (not through Django)."""
    import psycopg
    from psycopg.rows import dict_row

    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT state, current, total, result, finished_at FROM live_progress_taskrun "
            "WHERE task_id = %s",
            (task_id,),
        ).fetchone()


async def run_one_task(stack: PrivateStack, client: httpx.AsyncClient, steps: int) -> list[Any]:
    """Start long_running_task over HTTP and follow its WebSocket to the end."""
    started = await start_task(
        client, task="long_running_task", kwargs={"steps": steps, "delay": 0.05}
    )
    async with Watch(stack.base_url, started["ws_url"], cookie=cookie_header(client)) as ws:
        await ws.wait_for(lambda w: last_state(w) == "SUCCESS", timeout=60, what="SUCCESS")
        await ws.until_closed()
    return [started, ws]


async def test_postgres_database_keeps_the_history(tmp_path: Path, postgres_url: str) -> None:
    with PrivateStack(tmp_path, DATABASE_URL=postgres_url) as stack:
        stack.start_worker()
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            started, ws = await run_one_task(stack, client, steps=10)
            task_id = started["task_id"]
            assert ws.messages[-1]["percent"] == 100
            assert ws.close_code == 1000

            # The worker wrote the history row into PostgreSQL.
            row = await asyncio.to_thread(
                wait_for,
                lambda: (r := taskrun_row(postgres_url, task_id)) and r["state"] == "SUCCESS" and r,
                timeout=30,
                what="the SUCCESS row in live_progress_taskrun",
            )
            assert row["current"] == row["total"] == 10
            assert row["result"]["steps"] == 10
            assert row["finished_at"] is not None

            # Redis forgets every snapshot: the page's history now comes from PostgreSQL.
            redis.Redis.from_url(stack.redis.url).flushdb()
            listed = (await client.get("/tasks/")).json()["tasks"]
            assert [(t["task_id"], t["state"]) for t in listed] == [(task_id, "SUCCESS")]
            one = await client.get(f"/tasks/{task_id}/")
            assert one.status_code == 200
            assert one.json()["state"] == "SUCCESS"

            health = (await client.get("/health/")).json()
            assert health["database"]["vendor"] == "postgresql"
            assert health["database"]["migrations_pending"] == 0


# ---------------------------------------------------------------------------
# RabbitMQ: the broker on AMQP, Redis still for results, snapshots and Channels
# ---------------------------------------------------------------------------
def rabbitmqctl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=60, check=False
    )


@dataclass
class Rabbit:
    """Where a test's tasks go in RabbitMQ: a private vhost, else a private queue on "/"."""

    url: str
    queue: str

    def ready(self) -> int:
        """Messages ready in the queue, as RabbitMQ counts them (0 before it exists)."""
        from kombu import Connection

        with Connection(self.url, connect_timeout=3) as connection:
            channel: Any = connection.channel()
            try:
                return int(channel.queue_declare(self.queue, passive=True)[1])
            except connection.channel_errors:
                return 0
            finally:
                channel.close()


@pytest.fixture
def rabbitmq() -> Iterator[Rabbit]:
    """A vhost of our own (rabbitmqctl add_vhost), deleted afterwards; where rabbitmqctl
    cannot make one, a uniquely named queue on the default vhost, deleted afterwards."""
    from kombu import Connection

    default = f"amqp://guest:guest@{RABBITMQ_HOST}//"
    probe = Connection(default, connect_timeout=3)
    try:
        probe.ensure_connection(max_retries=0)
    except Exception as error:
        pytest.skip(f"RabbitMQ does not answer at amqp://{RABBITMQ_HOST} ({error})")
    finally:
        probe.release()
    name = f"starter_test_{uuid.uuid4().hex[:12]}"
    if shutil.which("rabbitmqctl") and rabbitmqctl("add_vhost", name).returncode == 0:
        try:
            allowed = rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
            assert allowed.returncode == 0, allowed.stderr
            yield Rabbit(f"amqp://guest:guest@{RABBITMQ_HOST}/{name}", "celery")
        finally:
            rabbitmqctl("delete_vhost", name)
        return
    try:
        yield Rabbit(default, name)
    finally:
        with Connection(default, connect_timeout=3) as connection:
            channel: Any = connection.channel()
            channel.queue_delete(name)
            channel.exchange_delete(name)  # Celery's default exchange is named after it
            channel.close()


async def test_rabbitmq_broker_runs_tasks_end_to_end(tmp_path: Path, rabbitmq: Rabbit) -> None:
    queue = rabbitmq.queue
    with PrivateStack(
        tmp_path, CELERY_BROKER_URL=rabbitmq.url, CELERY_TASK_DEFAULT_QUEUE=rabbitmq.queue
    ) as stack:
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            # No worker yet: both tasks wait in RabbitMQ, and the page says where they stand.
            first = await start_task(client, task="long_running_task", kwargs={"steps": 5})
            second = await start_task(client, task="long_running_task", kwargs={"steps": 5})
            assert (first["queue_position"], second["queue_position"]) == (0, 1)
            assert second["workers_online"] == 0
            assert "no worker is running" in second["message"]
            ready = await asyncio.to_thread(
                wait_for,
                lambda: rabbitmq.ready() == 2,
                timeout=30,
                what="two messages in the RabbitMQ queue",
            )
            assert ready
            # The broker is not Redis: no message list in Redis.
            assert not redis.Redis.from_url(stack.redis.url).exists(queue)

            # Diagnostics answer without a 500 and claim nothing about broker lists they
            # cannot see.
            health = await client.get("/health/")
            assert health.status_code == 200, health.text
            assert health.json()["broker"]["status"] == "OK"
            assert "RabbitMQ" in health.json()["broker"]["summary"]
            queues = health.json()["queues"]
            assert queues["queues"][queue]["waiting"] == 2
            # As RabbitMQ counts them (a passive declare), not guessed from Redis.
            assert queues["queues"][queue]["messages"] == 2
            doctor = await asyncio.to_thread(run_doctor, stack.env)
            assert "Traceback" not in doctor.stdout + doctor.stderr, doctor.stderr
            assert f"{queue}: 2 waiting" in doctor.stdout, doctor.stdout
            assert "OK    Broker    RabbitMQ" in doctor.stdout, doctor.stdout

            stack.start_worker()
            for started in (first, second):
                ws_url = started["ws_url"]
                async with Watch(stack.base_url, ws_url, cookie=cookie_header(client)) as ws:
                    await ws.wait_for(
                        lambda w: last_state(w) == "SUCCESS", timeout=60, what="SUCCESS"
                    )
                    await ws.until_closed()
                assert ws.messages[-1]["result"]["steps"] == 5
                assert ws.close_code == 1000

            # Every message was taken and acknowledged.
            assert rabbitmq.ready() == 0
            assert "amqp://guest:**@" in stack.worker.log()
            health = (await client.get("/health/")).json()
            assert health["queues"]["status"] == "OK", health["queues"]
            assert health["queues"]["queues"][queue]["waiting"] == 0
            assert health["queues"]["queues"][queue]["messages"] == 0


async def test_a_broker_that_does_not_answer_is_named_not_redis(tmp_path: Path) -> None:
    # Nothing listens on this port: the AMQP broker is down, Redis is fine.
    broker = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    stack = PrivateStack(tmp_path, CELERY_BROKER_URL=broker)
    try:
        await asyncio.to_thread(stack.start)  # ready once /health/ answers, 503 included
        await asyncio.to_thread(
            wait_for,
            lambda: httpx.get(f"{stack.base_url}/health/", timeout=5).status_code == 503,
            timeout=30,
            what="daphne answering /health/ with 503",
        )
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=30) as client:
            headers = await csrf_headers(client)
            refused = await client.post("/tasks/", data={"steps": "3"}, headers=headers)
            assert refused.status_code == 503, refused.text
            assert "broker is not answering" in refused.json()["error"]
            assert "CELERY_BROKER_URL" in refused.json()["fix"]

            health = await client.get("/health/")
            assert health.status_code == 503
            report = health.json()
            assert report["redis"]["status"] == "OK"
            assert report["broker"]["status"] == "FAIL"
            assert "amqp://guest:***@" in report["broker"]["summary"]

        doctor = await asyncio.to_thread(run_doctor, stack.env)
        assert doctor.returncode == 1
        assert "FAIL  Broker" in doctor.stdout, doctor.stdout
        assert "rabbitmq-server" in doctor.stdout
    finally:
        stack.stop()


async def test_rabbitmq_gives_a_killed_workers_task_to_another_at_once(
    tmp_path: Path, rabbitmq: Rabbit
) -> None:
    # The default visibility timeout (720 s) stays: RabbitMQ, not a timeout, brings it back.
    with PrivateStack(
        tmp_path, CELERY_BROKER_URL=rabbitmq.url, CELERY_TASK_DEFAULT_QUEUE=rabbitmq.queue
    ) as stack:
        workers = [stack.start_worker(name=f"rabbit-{n}") for n in ("a", "b")]
        async with httpx.AsyncClient(base_url=stack.base_url, timeout=10) as client:
            started = await start_task(
                client, task="long_running_task", kwargs={"steps": 40, "delay": 0.1}
            )
            task_id = started["task_id"]
            async with Watch(stack.base_url, started["ws_url"], cookie=cookie_header(client)) as ws:
                await ws.wait_for(
                    lambda w: any(
                        m["state"] == "PROGRESS" and m["percent"] >= 20 for m in w.messages
                    ),
                    timeout=60,
                    what="progress before the kill",
                )
                (first,) = [w for w in workers if f"[{task_id}] received" in w.log()]
                (second,) = [w for w in workers if w is not first]
                first.signal(signal.SIGKILL)  # the worker and its pool: no goodbye, no ack
                await ws.wait_for(
                    lambda w: last_state(w) == "SUCCESS",
                    timeout=60,
                    what="SUCCESS on the other worker, long before any visibility timeout",
                )
                await ws.until_closed()
        restart = len(ws.states) - 1 - ws.states[::-1].index("STARTED")
        assert ws.messages[restart]["current"] == 0 < max(m["current"] for m in ws.messages)
        assert ws.messages[-1]["result"]["steps"] == 40
        await asyncio.to_thread(
            wait_for,
            lambda: f"[{task_id}] succeeded" in second.log(),
            timeout=30,
            what="the success line in the other worker's log",
        )
        assert f"[{task_id}] succeeded" not in first.log()
