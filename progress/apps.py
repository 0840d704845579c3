from __future__ import annotations

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    """Connects the Celery signal handlers that record start and terminal states."""

    name = "progress"

    def ready(self) -> None:
        from . import signals  # noqa: F401
