"""Password guessing is throttled (django-axes) on a live Daphne with the project's own settings.

The session's live server runs tests/settings.py, which lets Django's test Client log in;
here Daphne runs django_starter.settings untouched: 5 failures, 15 minutes, per account and
address, on /accounts/login/ and the admin's log-in alike.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import create_user, migrate, stack_env, start_daphne

pytestmark = [pytest.mark.slow]

LOCKED = "Too many failed log-ins"


def project_env(redis_url: str, database: Path, **extra: str) -> dict[str, str]:
    """A stack process on the project's own settings (not tests/settings.py)."""
    return stack_env(
        redis_url=redis_url,
        database_path=database,
        DJANGO_SETTINGS_MODULE="django_starter.settings",
        **extra,
    )


def make_user(env: dict[str, str], *, staff: bool = False) -> tuple[str, str]:
    """A real user in the live server's database; returns (username, password)."""
    return create_user(env, staff=staff)


@contextlib.contextmanager
def serve(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str, **extra: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """A migrated database and a Daphne on it; yields (base URL, the processes' env)."""
    folder = tmp_path_factory.mktemp("throttle")
    env = project_env(redis_url, folder / "db.sqlite3", **extra)
    migrate(env)
    proc, base_url = start_daphne(env, log_dir=folder)
    try:
        yield base_url, env
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def project_server(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> Iterator[tuple[str, dict[str, str]]]:
    """Daphne with every AXES_* setting at its default."""
    with serve(tmp_path_factory, redis_url) as server:
        yield server


def log_in(client: httpx.Client, path: str, username: str, password: str) -> httpx.Response:
    """Post the log-in form as a browser does (CSRF cookie from the form's page first)."""
    if "csrftoken" not in client.cookies:
        assert client.get(path).status_code == 200
    data = {
        "username": username,
        "password": password,
        "csrfmiddlewaretoken": client.cookies["csrftoken"],
    }
    return client.post(path, data=data)


def assert_locked_out(response: httpx.Response, wait: str) -> None:
    assert response.status_code == 429, response.text
    assert LOCKED in response.text
    assert f"try again in\n      {wait}." in response.text
    assert "sessionid" not in response.cookies


@pytest.mark.parametrize("path", ["/accounts/login/", "/admin/login/?next=/admin/"])
def test_five_wrong_passwords_lock_the_account_out_right_password_included(
    project_server: tuple[str, dict[str, str]], path: str
) -> None:
    base_url, env = project_server
    username, password = make_user(env, staff=True)
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for attempt in range(1, 5):
            response = log_in(client, path, username, f"wrong-{attempt}")
            assert response.status_code == 200, attempt  # the form again, with its error
            assert LOCKED not in response.text
        assert_locked_out(log_in(client, path, username, "wrong-5"), "15 minutes")
        # Locked: the right password is refused too, with the same words, and no session.
        assert_locked_out(log_in(client, path, username, password), "15 minutes")
        assert "Anonymous session" in client.get("/").text
        # The lockout is this account's from this address: another account still logs in.
        other, other_password = make_user(env, staff=True)
        response = log_in(client, path, other, other_password)
        assert response.status_code == 302 and "sessionid" in response.cookies


def test_settings_come_from_the_environment_and_the_lock_ends_after_the_cool_off(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str
) -> None:
    # Two failures, a 3-second cool-off (0.05 minutes).
    limits = {"AXES_FAILURE_LIMIT": "2", "AXES_COOLOFF_MINUTES": "0.05"}
    with serve(tmp_path_factory, redis_url, **limits) as (base_url, env):
        username, password = make_user(env)
        with httpx.Client(base_url=base_url, timeout=10) as client:
            assert log_in(client, "/accounts/login/", username, "wrong").status_code == 200
            assert_locked_out(log_in(client, "/accounts/login/", username, "wrong"), "3 seconds")
            assert_locked_out(log_in(client, "/accounts/login/", username, password), "3 seconds")
            time.sleep(3.5)
            response = log_in(client, "/accounts/login/", username, password)
            assert response.status_code == 302 and response.headers["location"] == "/"
            assert username in client.get("/").text


def test_a_successful_log_in_forgets_the_earlier_failures(
    project_server: tuple[str, dict[str, str]],
) -> None:
    base_url, env = project_server
    username, password = make_user(env)
    for _ in range(3):  # 3 x (4 failures + 1 success): 12 failures, never 5 in a row
        with httpx.Client(base_url=base_url, timeout=10) as client:
            for attempt in range(4):
                response = log_in(client, "/accounts/login/", username, f"wrong-{attempt}")
                assert response.status_code == 200
            assert log_in(client, "/accounts/login/", username, password).status_code == 302
