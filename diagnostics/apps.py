from __future__ import annotations

from django.apps import AppConfig


class DiagnosticsConfig(AppConfig):
    """Connects the beat heartbeat to Celery's signals."""

    name = "diagnostics"

    def ready(self) -> None:
        from . import beat  # noqa: F401  (Celery signals: the beat's heartbeat)
