"""The progress app's settings, each with a default, so the app runs in any project."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Redis for snapshots and the worker heartbeats; falls back to REDIS_URL.
    "PROGRESS_REDIS_URL": None,
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "REDIS_SOCKET_TIMEOUT": 2.0,
    # Minimum seconds between two published progress messages of one task.
    "PROGRESS_PUBLISH_INTERVAL": 0.05,
    # How long a task's snapshot stays in Redis after its last change.
    "PROGRESS_SNAPSHOT_TTL": 24 * 3600,
    # Unfinished tasks one owner may have at once (None: no limit).
    "PROGRESS_MAX_ACTIVE_TASKS": 5,
    # Open WebSockets one owner may have in one web process; past it: close code 4429.
    "PROGRESS_MAX_SOCKETS_PER_OWNER": 20,
    # Unfinished tasks started from one client address at once (None: no limit).
    "PROGRESS_MAX_ACTIVE_TASKS_PER_ADDRESS": 20,
    # Unfinished tasks started through `progress.start` at once, everyone's (None: no limit).
    "PROGRESS_MAX_QUEUED": 1000,
    # True only behind a proxy that appends the client's address to X-Forwarded-For: the
    # address is then that header's last entry, else the socket's peer.
    "PROGRESS_TRUSTED_PROXY": False,
    # How long a worker keeps retrying a task's final state while Redis is away (seconds).
    "PROGRESS_END_WRITE_RETRY_SECONDS": 120.0,
    # Dotted names of the tasks (or canvas factories) POST /tasks/ may start; the first
    # is the default.
    "PROGRESS_TASKS": [],
    # Dotted path of a callable(stored snapshot) -> dict of fields (a "message" saying why
    # a task waits, say) added to the app's own live fields of each snapshot.
    "PROGRESS_LIVE_FIELDS": None,
    # Seconds after its last heartbeat that a worker no longer counts as online.
    "WORKER_HEARTBEAT_TTL": 2.0,
    # The page's title (and brand).
    "PROGRESS_PAGE_TITLE": "Live progress",
    # Days a finished task's history row is kept (`manage.py purge_task_history`).
    "PROGRESS_HISTORY_DAYS": 30,
    # Tasks per page of GET /tasks/.
    "PROGRESS_PAGE_SIZE": 20,
}


class _Settings:
    """`conf.NAME`: the project's setting when it has one, else the app's default."""

    def __getattr__(self, name: str) -> Any:
        return getattr(settings, name, DEFAULTS[name])

    @property
    def redis_url(self) -> str:
        """PROGRESS_REDIS_URL, else REDIS_URL, else Redis on this machine."""
        return str(self.PROGRESS_REDIS_URL or self.REDIS_URL)


conf = _Settings()
