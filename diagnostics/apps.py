from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the worker heartbeat and the queue bookkeeping to Celery's signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import queues, workers  # noqa: F401
