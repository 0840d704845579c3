"""A private stack for tests that break things: its own redis-server, SQLite and Daphne.

Workers come and go per test (`start_worker`); `stop()` ends whatever is still running.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Any

from tests.support import processes
from tests.support.processes import Proc, RedisServer


class PrivateStack:
    """A private Redis, a migrated SQLite file and a live Daphne on them, logging to `logs`."""

    def __init__(self, logs: Path, *, appendonly: bool = False, **settings: str) -> None:
        self.logs = logs
        self.redis = RedisServer(appendonly=appendonly)
        self.env = processes.stack_env(
            redis_url=self.redis.url, database_path=logs / "db.sqlite3", **settings
        )
        self.base_url = ""
        self.daphne: Proc | None = None
        self.workers: list[Proc] = []

    def start(self) -> PrivateStack:
        """Start Redis, migrate the database and start Daphne; stop it all if one fails."""
        try:
            self.redis.start()
            processes.migrate(self.env)
            self.daphne, self.base_url = processes.start_daphne(self.env, log_dir=self.logs)
        except BaseException:
            self.stop()
            raise
        return self

    def start_worker(self, *, concurrency: int = 1, **options: Any) -> Proc:
        """A real Celery worker on this stack (one pool process unless told); see `worker`."""
        proc = processes.start_worker(
            self.env, log_dir=self.logs, concurrency=concurrency, **options
        )
        self.workers.append(proc)
        return proc

    @property
    def worker(self) -> Proc:
        """The worker started last."""
        return self.workers[-1]

    def stop(self) -> None:
        """Stop the workers, Daphne and Redis (whatever of them still runs)."""
        for proc in self.workers:
            proc.stop()
        if self.daphne is not None:
            self.daphne.stop()
            self.daphne = None
        self.redis.stop()

    def __enter__(self) -> PrivateStack:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
