"""Fuzz the public inputs with hypothesis: no 500, no traceback, no hang.

Task ids in URLs, headers and WebSocket paths go to a real Daphne running with production
settings (DEBUG off), whose log is checked for tracebacks afterwards. POST bodies go
through Django in this process (CSRF off, so every body reaches the view), also with DEBUG
off. PROGRESS_MAX_ACTIVE_TASKS is 0 in both, so a valid body is answered 429 and no fuzz
case ever queues a task.
"""

from __future__ import annotations

import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
import websockets
from django.test import Client, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.sync.client import connect

from tests.support.processes import Proc, stack_env, start_daphne

pytestmark = [pytest.mark.slow]

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NOT_FOUND = {"error": "No task with this id belongs to you."}
TIMEOUT = 5  # any answer slower than this is a hang

ids = st.one_of(
    st.text(max_size=80),
    st.uuids()
    .map(str)
    .flatmap(
        lambda u: st.sampled_from(
            [u, u.upper(), u + "/", u[:-1], " " + u, u + "\x00", u.replace("-", "")]
        )
    ),
    st.text(alphabet="./%\\-_~:@;?#&=+$,", max_size=40),
    st.integers(min_value=300, max_value=3000).map(lambda n: "a" * n),
)


@pytest.fixture(scope="module")
def production_server(
    redis_url: str, stack_database: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Proc, str]]:
    env = stack_env(
        redis_url=redis_url,
        database_path=stack_database,
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        PROGRESS_MAX_ACTIVE_TASKS="0",
    )
    proc, base_url = start_daphne(env, log_dir=tmp_path_factory.mktemp("fuzz-logs"))
    yield proc, base_url
    proc.stop()
    # Nothing crashed (Django's security log of a refused Host header is expected, not a crash).
    log = proc.log()
    assert "Internal Server Error" not in log and "Exception inside application" not in log


@pytest.fixture(scope="module")
def http(production_server: tuple[Proc, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=production_server[1], timeout=TIMEOUT) as client:
        yield client


def assert_clean(response: httpx.Response | object, body: str) -> None:
    status = getattr(response, "status_code", 0)
    assert status < 500, body[:500]
    assert "Traceback" not in body and 'File "' not in body


@FUZZ
@given(task_id=ids)
def test_task_ids_in_urls(http: httpx.Client, task_id: str) -> None:
    path = quote(task_id, safe="")
    response = http.get(f"/tasks/{path}/")
    assert_clean(response, response.text)
    if response.status_code == 404:
        assert response.json() == NOT_FOUND
    cancel = http.post(f"/tasks/{path}/cancel/")
    assert_clean(cancel, cancel.text)
    assert cancel.status_code in (403, 404)  # no CSRF token: refused before anything else


header_names = st.sampled_from(
    [
        "Host",
        "Cookie",
        "X-CSRFToken",
        "Accept",
        "Content-Type",
        "Origin",
        "Referer",
        "User-Agent",
        "X-Forwarded-Proto",
        "X-Forwarded-For",
        "Accept-Language",
        "X-Requested-With",
    ]
)
header_values = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=200)


@FUZZ
@given(
    headers=st.dictionaries(header_names, header_values, max_size=4),
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]),
    path=st.sampled_from(
        [
            "/tasks/",
            "/tasks/00000000-0000-0000-0000-000000000000/",
            "/tasks/00000000-0000-0000-0000-000000000000/cancel/",
            "/health/",
        ]
    ),
)
def test_headers(http: httpx.Client, headers: dict[str, str], method: str, path: str) -> None:
    try:
        response = http.request(method, path, headers=headers)
    except (httpx.LocalProtocolError, UnicodeEncodeError):
        return  # the client itself refuses to send it: nothing reached the server
    assert_clean(response, response.text)


@FUZZ
@given(task_id=ids)
def test_task_ids_in_websocket_paths(production_server: tuple[Proc, str], task_id: str) -> None:
    ws_base = production_server[1].replace("http://", "ws://")
    url = f"{ws_base}/ws/progress/{quote(task_id, safe='')}/"
    try:
        with connect(
            url,
            open_timeout=TIMEOUT,
            close_timeout=TIMEOUT,
            additional_headers={"Origin": production_server[1]},
        ) as ws:
            with pytest.raises(websockets.ConnectionClosed):
                message = ws.recv(timeout=TIMEOUT)
                raise AssertionError(f"a snapshot for a stranger: {message!r}")
            assert ws.close_code == 4404
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code == 403  # denied at the handshake


@FUZZ
@given(
    path=st.text(alphabet=string.printable.strip(), max_size=60),
    origin=st.one_of(st.none(), header_values),
)
def test_websocket_paths_and_origins(
    production_server: tuple[Proc, str], path: str, origin: str | None
) -> None:
    url = production_server[1].replace("http://", "ws://") + "/" + quote(path, safe="/")
    headers = {"Origin": origin} if origin is not None else {}
    try:
        with (
            connect(
                url, open_timeout=TIMEOUT, close_timeout=TIMEOUT, additional_headers=headers
            ) as ws,
            pytest.raises(websockets.ConnectionClosed),
        ):
            ws.recv(timeout=TIMEOUT)
    except websockets.InvalidStatus as refused:
        assert refused.response.status_code in (400, 403, 404)
    except (websockets.InvalidURI, websockets.InvalidHeader, ValueError):
        pass  # refused by the client library before anything was sent


content_types = st.sampled_from(
    [
        "application/json",
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=xyz",
        "multipart/form-data",
        "application/json; charset=latin-1",
        "",
        "application/octet-stream",
    ]
)
bodies = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.dictionaries(
        st.text(max_size=10),
        st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
        max_size=4,
    ).map(lambda d: __import__("json").dumps(d).encode()),
    st.integers(min_value=-(10**12), max_value=10**12).map(lambda n: f"steps={n}".encode()),
    st.integers(min_value=60_000, max_value=200_000).map(lambda n: b"steps=1&p=" + b"x" * n),
)


@pytest.mark.django_db
@FUZZ
@given(body=bodies, content_type=content_types)
def test_post_bodies(body: bytes, content_type: str) -> None:
    with override_settings(DEBUG=False, PROGRESS_MAX_ACTIVE_TASKS=0):
        response = Client(raise_request_exception=False).generic(
            "POST", "/tasks/", data=body, content_type=content_type
        )
    text = response.content.decode(errors="replace")
    assert response.status_code in (400, 413, 429), (response.status_code, text[:300])
    assert "Traceback" not in text
    if response.status_code in (413, 429) or response["Content-Type"] == "application/json":
        assert "error" in response.json()
