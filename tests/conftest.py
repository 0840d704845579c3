"""Test set-up on real parts: a private Redis, a real Celery worker, a live Daphne.

Redis: `TEST_REDIS_URL` when given (use a database number of its own), else a
private `redis-server` on a free port, started here before Django reads its
settings. Never CELERY_TASK_ALWAYS_EAGER: the broker and the worker are real.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.support.browser import checked_page, chromium
from tests.support.processes import (
    Proc,
    RedisServer,
    migrate,
    stack_env,
    start_daphne,
    start_worker,
)

_redis_server: RedisServer | None = None


def pytest_configure(config: pytest.Config) -> None:
    global _redis_server
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        # pytest-xdist's controller runs no test: each worker process makes its own Redis
        # and settings (an environment set here would reach them before their conftest).
        # Asked of the config, not of PYTEST_XDIST_WORKER: a suite run from inside a test
        # (the generated project's) inherits that variable, and its controller would give
        # every worker its one Redis.
        return
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        _redis_server = RedisServer().start()
        url = _redis_server.url
    os.environ["REDIS_URL"] = url
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("CELERY_RESULT_BACKEND", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.settings"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    from django.conf import settings

    settings.INSTALLED_APPS  # noqa: B018  (load settings now, with this REDIS_URL)


# The files that take longest (a minute or more on 2 cores), longest first. pytest-xdist
# hands out whole files (--dist loadfile) in the order they were collected: one of these
# collected last would run alone while the other workers wait. None uses the test
# database, whose tests keep the order pytest-django gives them (as Django orders them).
LONGEST_FIRST = [
    "test_start_scripts.py",
    "test_bench.py",
    "test_chaos.py",
    "test_copier.py",
    "test_adoption.py",
    "test_backends.py",
    "test_lifecycle.py",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the longest files first (the others keep their order, and each file its own)."""

    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis_server is not None:
        _redis_server.stop()


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The URL of the Redis that the whole test session uses."""
    return os.environ["REDIS_URL"]


@pytest.fixture(scope="session")
def logs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the session's subprocesses write their logs."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def stack_database(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Path:
    """A migrated SQLite file for live servers (they run outside pytest-django's database)."""
    path = tmp_path_factory.mktemp("db") / "live.sqlite3"
    migrate(stack_env(redis_url=redis_url, database_path=path))
    return path


@pytest.fixture(scope="session")
def worker(redis_url: str, logs_dir: Path, stack_database: Path) -> Iterator[Proc]:
    """One real Celery worker (prefork, 2 processes) for the whole session, writing its
    history into the live server's database."""
    proc = start_worker(
        stack_env(redis_url=redis_url, database_path=stack_database), log_dir=logs_dir
    )
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def live_server_url(redis_url: str, logs_dir: Path, stack_database: Path) -> Iterator[str]:
    """A real Daphne serving the project (HTTP and WebSocket) on a free port."""
    proc, base_url = start_daphne(
        stack_env(redis_url=redis_url, database_path=stack_database), log_dir=logs_dir
    )
    yield base_url
    proc.stop()


@pytest.fixture(autouse=True)
def _cancel_leftover_tasks(request: pytest.FixtureRequest) -> Iterator[None]:
    """A test that ran tasks on the session's worker leaves none queued or running: the
    next test (whichever it is, in any order or worker) gets both pool processes, and its
    address's count of unfinished tasks starts from zero."""
    yield
    if "worker" not in request.fixturenames:
        return
    from live_progress.store import indexes
    from live_progress.web import services

    with contextlib.suppress(Exception):  # a fault test may have left Redis away
        for stored in indexes.unfinished():
            services.cancel(task_id=stored["task_id"], owner=None, is_staff=True)


@pytest.fixture
def short_tmp() -> Iterator[Path]:
    """A folder with a short path, for a clone whose supervisord socket must fit in 107 bytes
    (pytest's own folders grow long under pytest-xdist)."""
    path = Path(tempfile.mkdtemp(prefix="st-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """A headless Chromium per test module (see tests/support/browser.py for CI vs local)."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A fresh page; the test fails on any JavaScript error, and leaves a screenshot."""
    with checked_page(browser, tmp_path / "page.png") as checked:
        yield checked
