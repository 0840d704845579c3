from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the worker and beat heartbeats and the queue bookkeeping to Celery's signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import beat, queues, workers  # noqa: F401
