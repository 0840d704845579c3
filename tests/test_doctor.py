"""`manage.py doctor` and GET /health/ as a user runs them, on real services.

Redis stopped, migrations pending, everything fine: each case asserts the line the
user reads and the command it tells them to run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import Proc, run_doctor, stack_env
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.slow]


@pytest.fixture
def redis_down(tmp_path: Path) -> Iterator[tuple[dict[str, str], str, int]]:
    """A live Daphne whose private Redis has just been stopped."""
    with PrivateStack(tmp_path) as stack:
        stack.redis.stop()
        yield stack.env, stack.base_url, stack.redis.port


def test_redis_stopped_gives_health_503_and_doctor_fail_naming_redis(
    redis_down: tuple[dict[str, str], str, int],
) -> None:
    env, base_url, port = redis_down
    response = httpx.get(f"{base_url}/health/", timeout=30)
    assert response.status_code == 503
    report = response.json()
    assert report["redis"]["ok"] is False
    assert report["redis"]["summary"].startswith(
        f"Redis does not answer at redis://127.0.0.1:{port}/0"
    )
    assert report["redis"]["fix"].startswith("./start_dev.sh")
    assert report["workers"]["online"] == 0
    assert report["workers"]["summary"] == "not checked: Redis does not answer"
    assert {"redis", "workers", "flower", "queues", "database"} <= set(report)

    doctor = run_doctor(env)  # returns (no hang) although Redis is gone
    assert doctor.returncode == 1
    assert re.search(
        rf"FAIL\s+Redis\s+Redis does not answer at redis://127.0.0.1:{port}/0", doctor.stdout
    ), doctor.stdout
    assert (
        f"fix: ./start_dev.sh (starts an embedded Redis), or: redis-server --port {port}"
        in doctor.stdout
    )
    assert "failure" in doctor.stdout.splitlines()[-1]


def test_pending_migrations_are_diagnosed_with_migrate(redis_url: str, tmp_path: Path) -> None:
    env = stack_env(redis_url=redis_url, database_path=tmp_path / "fresh.sqlite3")
    doctor = run_doctor(env)
    assert doctor.returncode == 1
    assert re.search(
        r"FAIL\s+Database\s+\d+ migrations pending on sqlite .*fresh\.sqlite3", doctor.stdout
    ), doctor.stdout
    assert "fix: python manage.py migrate" in doctor.stdout

    report = json.loads(run_doctor(env, "--json").stdout)
    assert report["ok"] is False
    database = report["checks"]["database"]
    assert database["reachable"] is True
    assert database["migrations_pending"] > 0
    assert "sessions.0001_initial" in database["pending"]
    assert database["fix"] == "python manage.py migrate"


def test_a_healthy_stack_exits_0_with_one_line_per_check(
    redis_url: str, worker: Proc, stack_database: Path
) -> None:
    env = stack_env(redis_url=redis_url, database_path=stack_database)
    doctor = run_doctor(env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    lines = doctor.stdout.splitlines()
    assert re.match(r"OK\s+Redis\s+Redis [\d.]+ answers at redis://", lines[0])
    assert re.match(
        rf"OK\s+Workers\s+\d+ online: {re.escape(worker.node)} \(celery;",  # type: ignore[attr-defined]
        lines[1],
    ), lines
    assert re.match(r"OK\s+Queues\s+celery: \d+ waiting, \d+ consuming", lines[2])
    assert re.match(r"(OK|WARN)\s+Flower\s+Flower", lines[3])  # Flower is monitoring only
    assert re.match(r"OK\s+Database\s+sqlite .* reachable, no migrations pending", lines[-2])
    assert "0 failure(s)" in lines[-1]
    assert "\x1b[" not in doctor.stdout  # no colour codes when not on a terminal

    report = json.loads(run_doctor(env, "--json").stdout)
    assert report["ok"] is True
    names = [w["name"] for w in report["checks"]["workers"]["workers"]]
    assert worker.node in names  # type: ignore[attr-defined]
    ours = next(w for w in report["checks"]["workers"]["workers"] if w["name"] == worker.node)  # type: ignore[attr-defined]
    assert ours["queues"] == ["celery"]
    assert ours["missing_tasks"] == []


def test_wait_gives_up_with_exit_1_while_a_check_is_not_ok(
    redis_url: str, worker: Proc, stack_database: Path
) -> None:
    env = stack_env(redis_url=redis_url, database_path=stack_database)  # no beat runs here
    doctor = run_doctor(env, "--wait", "1")  # what the start scripts wait on, for 120 s
    assert doctor.returncode == 1, doctor.stdout
    assert re.search(r"WARN\s+Beat\s+beat is not running", doctor.stdout), doctor.stdout
    assert "fix: celery -A django_starter beat -l info" in doctor.stdout
