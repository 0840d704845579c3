"""The package's tests run on real parts: a private Redis, a Celery worker, Daphne.

Redis: `TEST_REDIS_URL` when given (a database of its own), else a private
`redis-server` on a free port, started before Django reads the test project's settings.
Nothing is mocked and nothing runs eagerly: tasks go through the broker to a worker.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from celery import Celery
from processes import Proc, RedisServer, migrate, project_env, start_daphne, start_worker

_redis_server: RedisServer | None = None
_passed = pytest.StashKey[bool]()
_logs = Path(tempfile.mkdtemp(prefix="live-progress-tests-"))


def pytest_configure(config: pytest.Config) -> None:
    global _redis_server
    if config.inipath != Path(__file__).with_name("pytest.ini"):
        # One Django settings module per process: beside another project's tests, one of
        # the two suites would run under the other's settings.
        raise pytest.UsageError(
            "The django-live-progress tests run on their own, with their own settings: "
            f"python -m pytest {Path(__file__).parent}"
        )
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        _redis_server = RedisServer(_logs).start()
        url = _redis_server.url
    os.environ["TEST_PROJECT_REDIS_URL"] = url
    os.environ["TEST_PROJECT_DATABASE"] = str(_logs / "live.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "testproject.settings"
    for name in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
        os.environ.pop(name, None)  # Celery reads them over any setting
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018  (load the settings now, with this Redis)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    config.stash[_passed] = exitstatus == pytest.ExitCode.OK


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_server is not None:
        _redis_server.stop()
    if config.stash.get(_passed, False):  # the processes' logs are kept when a test failed
        shutil.rmtree(_logs, ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> str:
    import live_progress

    return f"live_progress from {Path(live_progress.__file__).parent}; logs in {_logs}"


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The Redis of the whole session (snapshots, heartbeats and the broker)."""
    return os.environ["TEST_PROJECT_REDIS_URL"]


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture(scope="session")
def logs_dir() -> Path:
    """Where the session's processes write their logs (shown in the report header)."""
    return _logs


@pytest.fixture(scope="session")
def live_env(redis_url: str, logs_dir: Path) -> dict[str, str]:
    """The environment of the live processes, their database migrated."""
    env = project_env(redis_url=redis_url, database=logs_dir / "live.sqlite3")
    migrate(env)
    return env


@pytest.fixture(scope="session")
def worker(live_env: dict[str, str], logs_dir: Path) -> Iterator[Proc]:
    """One real Celery worker (prefork, 2 processes) for the session."""
    proc = start_worker(live_env, log_dir=logs_dir)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def daphne_url(live_env: dict[str, str], logs_dir: Path) -> Iterator[str]:
    """A real Daphne serving the test project (HTTP and WebSocket); its base URL."""
    proc, base_url = start_daphne(live_env, log_dir=logs_dir)
    yield base_url
    proc.stop()


@pytest.fixture
def no_celery_app() -> Iterator[Celery]:
    """Celery's own fallback app is the current one, as in a project that made none."""
    from testproject.celery import app

    fallback = Celery("default", set_as_current=False, fixups=[])
    fallback.set_current()
    try:
        yield fallback
    finally:
        app.set_current()
