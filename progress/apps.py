from __future__ import annotations

from django.apps import AppConfig


class ProgressConfig(AppConfig):
    """Connects the task lifecycle to Celery's signals and a login to its session's tasks."""

    name = "progress"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_in

        from . import history, lifecycle  # noqa: F401  (connect their Celery signal handlers)
        from .owners import on_login

        user_logged_in.connect(on_login, dispatch_uid="progress.owners.on_login")
