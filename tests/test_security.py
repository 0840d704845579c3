"""Nobody in where they don't belong: ownership, staff, CSRF, Origin, limits, deploy settings.

HTTP and WebSocket checks run against the session's live Daphne; the settings checks run
`manage.py` in a subprocess with production variables.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.support.live import Watch, cancel_task, cookie_header, csrf_headers, start_task
from tests.support.processes import ROOT, Proc, manage_shell, stack_env

pytestmark = [pytest.mark.slow]

NOT_FOUND = {"error": "No task with this id belongs to you."}


def manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run manage.py with exactly these DJANGO_* variables (no .env, no caller's env)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    base.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=60,
    )


def production(**extra: str) -> dict[str, str]:
    return {"DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), **extra}


# --- production settings ------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = manage("check", DJANGO_DEBUG="0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY is not set" in result.stderr
    assert "secrets.token_urlsafe(50)" in result.stderr


def test_check_deploy_is_clean_for_a_tls_deployment() -> None:
    result = manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        **production(DJANGO_SECURE="1", DJANGO_BEHIND_TLS_PROXY="1"),
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_on_plain_http_reports_only_the_tls_switches() -> None:
    result = manage("check", "--deploy", **production())
    warned = sorted(
        {
            line.split(")")[0].split("(")[1]
            for line in result.stderr.splitlines()
            if line.startswith("?: (security.")
        }
    )
    assert warned == ["security.W004", "security.W008", "security.W012", "security.W016"]


def settings_value(name: str, **env: str) -> str:
    code = f"from django.conf import settings; print(repr(getattr(settings, {name!r}, None)))"
    result = manage("shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


def test_forwarded_proto_is_trusted_only_behind_a_declared_tls_proxy() -> None:
    assert settings_value("SECURE_PROXY_SSL_HEADER", **production()) == "None"
    assert (
        settings_value("SECURE_PROXY_SSL_HEADER", **production(DJANGO_BEHIND_TLS_PROXY="1"))
        == "('HTTP_X_FORWARDED_PROTO', 'https')"
    )
    assert settings_value("SESSION_COOKIE_SECURE", **production(DJANGO_SECURE="1")) == "True"
    assert settings_value("SECURE_HSTS_SECONDS", **production(DJANGO_SECURE="1")) == "31536000"


def test_no_secret_is_committed() -> None:
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert ".env" not in tracked
    literal = re.compile(
        r"""(SECRET_KEY|PASSWORD|BASIC_AUTH|password)\w*\s*[=:]\s*["'][^"']{8,}["']"""
    )
    found = []
    for path in tracked:
        if path.startswith("tests/") or not (ROOT / path).is_file():
            continue
        text = (ROOT / path).read_text(errors="replace")
        found += [
            f"{path}: {m.group(0)}"
            for m in literal.finditer(text)
            if "django-insecure-" not in m.group(0)
        ]
    assert found == []
    # The one literal key is for development only: production refuses it (see above).


# --- ownership -----------------------------------------------------------------------


@pytest.fixture
async def owner(live_server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        yield client


@pytest.fixture
async def stranger(live_server_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as client:
        await client.get("/")
        yield client


def make_user(database: Path, redis_url: str, *, staff: bool) -> tuple[str, str, str]:
    """A real user in the live server's database; returns (username, password, session key)."""
    username, password = f"user-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(12)
    code = (
        "from django.contrib.auth import get_user_model, SESSION_KEY, BACKEND_SESSION_KEY, "
        "HASH_SESSION_KEY\n"
        "from django.contrib.sessions.backends.db import SessionStore\n"
        f"u = get_user_model().objects.create_user({username!r}, password={password!r}, "
        f"is_staff={staff!r})\n"
        "s = SessionStore(); s[SESSION_KEY] = str(u.pk)\n"
        "s[BACKEND_SESSION_KEY] = 'django.contrib.auth.backends.ModelBackend'\n"
        "s[HASH_SESSION_KEY] = u.get_session_auth_hash(); s.create(); print(s.session_key)\n"
    )
    output = manage_shell(stack_env(redis_url=redis_url, database_path=database), code)
    return username, password, output.strip().splitlines()[-1]


async def test_other_session_gets_404_on_read_and_cancel_and_a_refused_socket(
    live_server_url: str, owner: httpx.AsyncClient, stranger: httpx.AsyncClient
) -> None:
    started = await start_task(owner, steps=1)
    task_id = started["task_id"]
    response = await stranger.get(f"/tasks/{task_id}/")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = await cancel_task(stranger, task_id)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    async with Watch(live_server_url, started["ws_url"], cookie=cookie_header(stranger)) as ws:
        await ws.until_closed(timeout=10)
    assert ws.messages == [] and ws.close_code == 4403
    # Unknown ids look exactly the same as foreign ones.
    unknown = str(uuid.uuid4())
    assert (await stranger.get(f"/tasks/{unknown}/")).json() == NOT_FOUND
    assert (await cancel_task(stranger, unknown)).status_code == 404


async def test_staff_logged_in_through_the_admin_sees_every_task(
    live_server_url: str,
    redis_url: str,
    stack_database: Path,
    owner: httpx.AsyncClient,
    worker: Proc,
) -> None:
    started = await start_task(owner, steps=1000)
    username, password, _ = make_user(stack_database, redis_url, staff=True)
    async with httpx.AsyncClient(base_url=live_server_url, timeout=10) as staff:
        await staff.get("/admin/login/")
        login = await staff.post(
            "/admin/login/?next=/admin/",
            data={
                "username": username,
                "password": password,
                "next": "/admin/",
                "csrfmiddlewaretoken": staff.cookies["csrftoken"],
            },
        )
        assert login.status_code == 302 and login.headers["location"] == "/admin/"
        response = await staff.get(started["status_url"])
        assert response.status_code == 200
        assert response.json()["task_id"] == started["task_id"]
        assert "owner" not in response.json()
        async with Watch(live_server_url, started["ws_url"], cookie=cookie_header(staff)) as ws:
            await ws.wait_for(lambda w: w.messages, timeout=10, what="a snapshot for staff")
            response = await cancel_task(staff, started["task_id"])
            assert response.json()["state"] == "REVOKED"
            await ws.until_closed(timeout=10)
        assert ws.messages[-1]["state"] == "REVOKED"


# --- CSRF and Origin ---------------------------------------------------------------------


async def test_every_post_needs_the_csrf_token(owner: httpx.AsyncClient) -> None:
    """The starter's middleware and failure view keep CSRF on its API (the package's own
    refusal, and its JSON under any prefix: the package's tests/test_views.py)."""
    started = await start_task(owner, steps=1)
    for path in ("/tasks/", f"/tasks/{started['task_id']}/cancel/"):
        for headers in ({}, {"X-CSRFToken": "wrong" * 8}):
            response = await owner.post(path, headers=headers)
            assert response.status_code == 403, (path, headers)
            assert response.json()["error"].startswith("CSRF check failed")
    assert (await owner.get(started["status_url"])).json()["state"] != "REVOKED"


async def refused_with(url: str, cookie: str, origin: str) -> int:
    """The HTTP status that refused the handshake (fails when it was accepted)."""
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(
            url, open_timeout=10, additional_headers={"Cookie": cookie, "Origin": origin}
        )
    return int(refused.value.response.status_code)


async def test_the_websocket_refuses_a_foreign_origin_and_lets_its_own_page_in(
    live_server_url: str, owner: httpx.AsyncClient
) -> None:
    """The starter's routing keeps the origin check on its sockets (every other origin:
    the package's tests/test_origins.py and tests/test_consumers.py)."""
    started = await start_task(owner, steps=1)
    url = live_server_url.replace("http://", "ws://") + started["ws_url"]
    assert await refused_with(url, cookie_header(owner), "http://evil.example") == 403
    async with Watch(live_server_url, started["ws_url"], cookie=cookie_header(owner)) as ws:
        await ws.wait_for(lambda w: w.messages, timeout=10, what="the snapshot")


def test_trusted_origins_come_from_the_environment_with_their_scheme_and_port() -> None:
    """What they allow, a WebSocket's origin included: the package's tests/test_origins.py."""
    trusted = "https://app.example.com,https://*.example.org:8443"
    assert settings_value("CSRF_TRUSTED_ORIGINS", DJANGO_CSRF_TRUSTED_ORIGINS=trusted) == repr(
        ["https://app.example.com", "https://*.example.org:8443"]
    )
    assert settings_value("CSRF_TRUSTED_ORIGINS") == "[]"


# --- abuse limits ------------------------------------------------------------------------


async def test_sixth_unfinished_task_gets_429_until_one_is_cancelled(
    owner: httpx.AsyncClient, worker: Proc
) -> None:
    tasks = [await start_task(owner, steps=1000) for _ in range(5)]
    try:
        response = await owner.post("/tasks/", headers=await csrf_headers(owner))
        assert response.status_code == 429
        assert response.json() == {
            "error": "You already have 5 unfinished tasks, the most allowed at once. Wait for "
            "one to finish, or cancel one, then start again.",
            "limit": 5,
        }
        assert (await cancel_task(owner, tasks[0]["task_id"])).json()["state"] == "REVOKED"
        tasks.append(await start_task(owner, steps=1000))
    finally:
        for task in tasks:
            await cancel_task(owner, task["task_id"])


@pytest.mark.parametrize(
    "data, error",
    [
        ({"steps": "0"}, "steps: Ensure this value is greater than or equal to 1."),
        ({"steps": "1001"}, "steps: Ensure this value is less than or equal to 1000."),
        ({"steps": "ten"}, "steps: Enter a whole number."),
        ({"steps": "1e3"}, "steps: Enter a whole number."),
    ],
)
async def test_bad_steps_are_refused_with_400(
    owner: httpx.AsyncClient, data: dict[str, str], error: str
) -> None:
    response = await owner.post("/tasks/", data=data, headers=await csrf_headers(owner))
    assert response.status_code == 400
    assert response.json() == {"error": f"Invalid arguments for long_running_task: {error}"}


async def test_json_bodies_are_checked(owner: httpx.AsyncClient) -> None:
    headers = {**await csrf_headers(owner), "Content-Type": "application/json"}
    for body, status in [
        (b"{", 400),
        (b"[1]", 400),
        (b'{"steps": true}', 400),
        (b'{"steps": 2.5}', 400),
        (b"\xff\xfe", 400),
    ]:
        response = await owner.post("/tasks/", content=body, headers=headers)
        assert response.status_code == status, body
        assert "error" in response.json()
    started = await owner.post("/tasks/", content=json.dumps({"steps": 1}), headers=headers)
    assert started.status_code == 202


async def test_request_bodies_are_bounded(owner: httpx.AsyncClient) -> None:
    headers = {**await csrf_headers(owner), "Content-Type": "application/json"}
    big = json.dumps({"steps": 1, "padding": "x" * 100_000})
    response = await owner.post("/tasks/", content=big, headers=headers)
    assert (response.status_code, response.json()) == (
        413,
        {"error": "The request body is too large."},
    )
    # A form body that big is refused by Django itself (400), never a 500.
    response = await owner.post(
        "/tasks/", data={"padding": "x" * 100_000}, headers=await csrf_headers(owner)
    )
    assert response.status_code == 400


async def test_ids_are_bounded(live_server_url: str, owner: httpx.AsyncClient) -> None:
    for task_id in ("x" * 600, str(uuid.uuid4()) + "0", "..%2F..%2Fadmin", "%00", "%F0%9F"):
        response = await owner.get(f"/tasks/{task_id}/")
        assert response.status_code == 404, task_id
        assert response.json() == NOT_FOUND
    async with Watch(
        live_server_url, f"/ws/progress/{'a' * 600}/", cookie=cookie_header(owner)
    ) as ws:
        await ws.until_closed(timeout=10)
    assert ws.messages == [] and ws.close_code == 4404
