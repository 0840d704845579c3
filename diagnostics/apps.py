from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the worker and beat heartbeats to Celery's signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import beat, workers  # noqa: F401
