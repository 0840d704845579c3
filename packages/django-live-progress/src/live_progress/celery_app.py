"""The project's Celery app as the app finds it: configured or not, and how to start a worker."""

from __future__ import annotations

from celery import Celery, current_app

# The app Celery makes for itself when the project configured none ("First steps with
# Django" was skipped): it would send tasks to amqp://guest@localhost//, no questions asked.
FALLBACK_NAME = "default"


def configured_app() -> Celery | None:
    """The project's Celery app, or None when only Celery's own fallback app exists."""
    app: Celery = current_app._get_current_object()  # type: ignore[attr-defined]
    if app.main in (None, FALLBACK_NAME) and not app.conf.broker_url:
        return None
    return app


def worker_command() -> str:
    """The command that starts a worker for this project: `celery -A <app> worker -l info`."""
    app = configured_app()
    return f"celery -A {app.main if app and app.main else '<your project>'} worker -l info"
