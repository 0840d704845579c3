"""Start the real stack for the benchmark on free loopback ports, and stop all of it.

Reuses the test suite's process helpers (tests/support/processes.py) unchanged:
a private redis-server, a migrated SQLite file, Daphne and a Celery worker.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import (
    BIN,
    ROOT,
    Proc,
    RedisServer,
    free_port,
    migrate,
    stack_env,
    start_daphne,
    start_worker,
)

# The benchmark's Daphne serves the project and, beside it, celery-progress (bench/asgi.py).
BENCH_SETTINGS = "bench.settings"
BENCH_ASGI = "bench.asgi:application"


def raise_fd_limit() -> int:
    """Soft limit on open files up to the hard one (inherited by every process started here)."""
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


_deferring = False
_pending: int | None = None


def _stop_for(signum: int) -> None:
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def _on_signal(signum: int, _frame: object) -> None:
    global _pending
    if _deferring:
        _pending = signum
    else:
        _stop_for(signum)


def install_signal_handlers() -> None:
    """Ctrl-C and SIGTERM end the run through `finally`, so the stack is always stopped."""
    signal.signal(signal.SIGINT, _on_signal)
    signal.signal(signal.SIGTERM, _on_signal)


@contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM until a process is started and handed back to us.

    The helpers stop a half-started process on errors, not on SystemExit or
    KeyboardInterrupt; deferring the signals means we always get the Proc to stop.
    (A handler flag, not a signal mask: children would inherit the mask.)
    """
    global _deferring, _pending
    _deferring, _pending = True, None
    try:
        yield
    finally:
        _deferring = False
    if _pending is not None:
        _stop_for(_pending)


class BenchStack:
    """Redis + Daphne now, the worker later (the POST figures are taken without one)."""

    def __init__(self, *, keep_logs: bool = False) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="starter-bench-"))
        self.keep_logs = keep_logs
        self.redis = RedisServer(data_dir=self.dir)
        self.procs: list[Proc] = []
        self.env: dict[str, str] = {}
        self.base_url = ""
        self.worker: Proc | None = None
        self.daphne: Proc | None = None
        self.pids: list[int] = []

    def start_web(self) -> None:
        """redis-server, migrate, Daphne; and this process's Django pointed at the same Redis."""
        with signals_deferred():
            self.redis.start()
            assert self.redis.proc is not None
            self.pids.append(self.redis.proc.pid)
        # Nothing listens on FLOWER_PORT: /health/ never reaches a Flower on 8054.
        # The caps on unfinished tasks and open sockets are lifted: one session POSTs
        # hundreds of tasks and watches one of them from 2,000 sockets.
        self.env = stack_env(
            redis_url=self.redis.url,
            database_path=self.dir / "bench.sqlite3",
            FLOWER_PORT=str(free_port()),
            DJANGO_LOG_LEVEL="WARNING",
            PROGRESS_MAX_ACTIVE_TASKS="1000000",
            PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS="1000000",
            PROGRESS_MAX_QUEUED="1000000",
            PROGRESS_MAX_SOCKETS_PER_OWNER="1000000",
            PYTHONPATH=str(ROOT),
        )
        migrate(self.env)
        with signals_deferred():
            daphne, self.base_url = start_daphne(
                {**self.env, "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS},
                log_dir=self.dir,
                application=BENCH_ASGI,
            )
            self.procs.append(daphne)
            self.pids.append(daphne.pid)
            self.daphne = daphne
        os.environ.update(
            {
                key: self.env[key]
                for key in (
                    "REDIS_URL",
                    "DATABASE_URL",
                    "DJANGO_SETTINGS_MODULE",
                    "FLOWER_PORT",
                    "DJANGO_LOG_LEVEL",
                    # services.start(limited=True) in this process: the caps lifted too.
                    "PROGRESS_MAX_ACTIVE_TASKS",
                    "PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS",
                    "PROGRESS_MAX_QUEUED",
                )
            }
        )
        for key in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND"):
            os.environ.pop(key, None)
        import django

        django.setup()

    def start_worker(self) -> Proc:
        """One real worker (prefork, 2 processes) that also knows the bench tasks."""
        with signals_deferred():
            self.worker = start_worker(
                self.env, log_dir=self.dir, name="bench", extra_args=["--include", "bench.tasks"]
            )
            self.procs.append(self.worker)
            self.pids.append(self.worker.pid)
        return self.worker

    def start_named_worker(
        self,
        name: str,
        *,
        concurrency: int = 2,
        queues: str | None = None,
        include: str = "bench.tasks",
        settings: str | None = None,
    ) -> Proc:
        """Another project worker (node `name@host`), counted online by its heartbeat."""
        env = {**self.env, "DJANGO_SETTINGS_MODULE": settings} if settings else self.env
        with signals_deferred():
            worker = start_worker(
                env,
                log_dir=self.dir,
                name=name,
                concurrency=concurrency,
                queues=queues,
                extra_args=["--include", include],
            )
            self.procs.append(worker)
            self.pids.append(worker.pid)
        return worker

    def start_bare_worker(self, name: str, *, queues: str, config: dict[str, Any]) -> Proc:
        """A bare Celery worker (bench/bare.py): the same Celery settings, no project code."""
        env = {k: v for k, v in self.env.items() if k != "DJANGO_SETTINGS_MODULE"}
        env["BENCH_BARE_CONFIG"] = json.dumps(config, default=str)
        argv = [str(BIN / "celery"), "-A", "bench.bare", "worker", *worker_args(name, queues)]
        with signals_deferred():
            worker = Proc(f"worker-{name}", argv, env=env, log_dir=self.dir)
            self.procs.append(worker)
            self.pids.append(worker.pid)
        worker.node = f"{name}@{socket.gethostname()}"  # type: ignore[attr-defined]
        return worker

    def start_plain_worker(self, name: str, *, queues: str) -> Proc:
        """A project worker with exactly the bare worker's arguments (for throughput)."""
        argv = [
            str(BIN / "celery"),
            "-A",
            "django_starter",
            "worker",
            *worker_args(name, queues),
            "--include",
            "bench.tasks",
        ]
        with signals_deferred():
            worker = Proc(f"worker-{name}", argv, env=self.env, log_dir=self.dir)
            self.procs.append(worker)
            self.pids.append(worker.pid)
        worker.node = f"{name}@{socket.gethostname()}"  # type: ignore[attr-defined]
        return worker

    def stop_proc(self, proc: Proc) -> None:
        """Stop one process started here (its pid stays listed, to check it is gone)."""
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop(self, *, failed: bool = False) -> None:
        """Stop every process started here, newest first; keep the logs only on failure."""
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        self.redis.stop()
        if failed or self.keep_logs:
            print(f"logs kept in {self.dir}", file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def worker_args(name: str, queues: str) -> list[str]:
    """The same worker options for bare and project workers: prefork, 2 processes."""
    return [
        "-l",
        "warning",
        "-n",
        f"{name}@%h",
        "-c",
        "2",
        "-Q",
        queues,
        "--without-mingle",
        "--without-gossip",
    ]
