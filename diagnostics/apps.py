from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the worker heartbeat to Celery's worker signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import workers  # noqa: F401
