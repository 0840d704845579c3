from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the beat heartbeat to Celery's signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import beat, task_counts  # noqa: F401  (Celery signals: heartbeat, task counts)
