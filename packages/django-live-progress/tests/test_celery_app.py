"""live_progress/celery_app.py: the project's Celery app as the app finds it."""

from __future__ import annotations

from celery import Celery

from live_progress.celery_app import configured_app, worker_command


def test_the_projects_app_is_the_configured_one() -> None:
    from testproject.celery import app

    assert configured_app() is app


def test_celerys_own_fallback_app_is_no_app(no_celery_app: Celery) -> None:
    assert configured_app() is None


def test_the_worker_command_names_the_projects_app() -> None:
    assert worker_command() == "celery -A testproject worker -l info"


def test_without_an_app_the_worker_command_says_where_the_name_goes(
    no_celery_app: Celery,
) -> None:
    assert worker_command() == "celery -A <your project> worker -l info"
