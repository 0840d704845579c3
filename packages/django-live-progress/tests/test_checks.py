"""live_progress/checks.py: `manage.py check` names each miswiring by its id."""

from __future__ import annotations

import socket

import pytest
from celery import Celery
from django.conf import settings
from django.core.checks import CheckMessage, run_checks
from django.test import override_settings

from live_progress.checks import AUTH_MIDDLEWARE, SESSION_MIDDLEWARE


def ids() -> list[str]:
    found = run_checks(include_deployment_checks=True)  # W003, W004 run with --deploy
    return [message.id or "" for message in found if (message.id or "").startswith("live")]


def messages(check_id: str) -> list[CheckMessage]:
    found = run_checks(include_deployment_checks=True)
    return [message for message in found if message.id == check_id]


def test_the_wired_test_project_passes_every_check() -> None:
    assert ids() == []


def test_no_celery_app_is_E001(no_celery_app: Celery) -> None:
    assert ids() == ["live_progress.E001"]
    [error] = messages("live_progress.E001")
    assert error.is_serious()
    assert "First steps with Django" in (error.hint or "")


def test_an_unnamed_celery_app_with_a_broker_is_the_projects(redis_url: str) -> None:
    from testproject.celery import app

    unnamed = Celery(broker=redis_url, set_as_current=False)
    unnamed.set_current()
    try:
        assert ids() == []
    finally:
        app.set_current()


def test_no_session_middleware_is_E002() -> None:
    middleware = [m for m in settings.MIDDLEWARE if m != SESSION_MIDDLEWARE]
    with override_settings(MIDDLEWARE=middleware):
        assert ids() == ["live_progress.E002"]


def test_no_authentication_middleware_is_E003() -> None:
    middleware = [m for m in settings.MIDDLEWARE if m != AUTH_MIDDLEWARE]
    with override_settings(MIDDLEWARE=middleware):
        assert ids() == ["live_progress.E003"]


def test_a_listed_task_that_does_not_import_is_E004_naming_it() -> None:
    with override_settings(PROGRESS_TASKS=["testproject.tasks.count", "testproject.tasks.nope"]):
        [error] = messages("live_progress.E004")
        assert ids() == ["live_progress.E004"]
    assert error.obj == "testproject.tasks.nope"
    assert "testproject.tasks.nope" in error.msg


@pytest.mark.parametrize("value", [None, ""])
def test_no_asgi_application_is_W001(value: str | None) -> None:
    with override_settings(ASGI_APPLICATION=value):
        [warning] = messages("live_progress.W001")
        assert ids() == ["live_progress.W001"]
    assert not warning.is_serious()
    assert "websocket_urlpatterns" in (warning.hint or "")


def test_debug_without_daphne_installed_as_an_app_is_W002() -> None:
    with override_settings(DEBUG=True):
        assert ids() == ["live_progress.W002"]


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_broker_that_does_not_answer_is_W003_without_its_password() -> None:
    from testproject.celery import app

    before = app.conf.broker_url
    app.conf.update(broker_url=f"redis://:hunter2@127.0.0.1:{closed_port()}/0")
    try:
        [warning] = messages("live_progress.W003")
    finally:
        app.conf.update(broker_url=before)
    assert "does not answer" in warning.msg and "hunter2" not in warning.msg
    assert ids() == []  # the real broker again


def test_a_progress_redis_that_does_not_answer_is_W004() -> None:
    with override_settings(PROGRESS_REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0"):
        [warning] = messages("live_progress.W004")
    assert "PROGRESS_REDIS_URL" in (warning.hint or "")
