"""The app's configuration: what it connects when Django starts."""

from __future__ import annotations

from django.apps import AppConfig


class LiveProgressConfig(AppConfig):
    """Connects the task lifecycle and the worker heartbeat to Celery's signals, a login to
    its session's tasks, and the system checks that name a miswired project."""

    name = "live_progress"
    verbose_name = "Live progress"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        # Imported for their Celery signal handlers and system checks.
        from live_progress import checks  # noqa: F401
        from live_progress.store import history  # noqa: F401
        from live_progress.web.owners import on_login
        from live_progress.worker import heartbeat, lifecycle  # noqa: F401

        user_logged_in.connect(on_login, dispatch_uid="live_progress.owners.on_login")
