"""live_progress/web/origins.py: which pages may open a task's WebSocket."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from live_progress.web.origins import allowed_origin, origin_of


def handshake(origin: str | None, host: str = "127.0.0.1:8000", **scope: Any) -> dict[str, Any]:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": "ws", "headers": headers, **scope}


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://Example.com", ("http", "example.com", 80)),
        ("https://example.com", ("https", "example.com", 443)),
        ("http://127.0.0.1:8000", ("http", "127.0.0.1", 8000)),
        ("ftp://example.com", None),
        ("null", None),
        ("http://example.com:99999", None),
        ("", None),
    ],
)
def test_an_origin_is_its_scheme_host_and_port(
    url: str, origin: tuple[str, str, int] | None
) -> None:
    assert origin_of(url) == origin


def test_the_servers_own_origin_is_allowed() -> None:
    assert allowed_origin(handshake("http://127.0.0.1:8000"))


@pytest.mark.parametrize(
    "origin",
    [
        "http://evil.example",
        "http://127.0.0.1:47899",  # another program on the same machine
        "https://127.0.0.1:8000",  # another scheme
        "http://127.0.0.1",  # the same host on the scheme's own port
        "http://127.0.0.1.evil.example",  # a name that only starts like the server's
        "http://localhost:8000",  # a name the server answers to, but not this page's
        "null",
        None,
    ],
)
def test_any_other_or_missing_origin_is_refused(origin: str | None) -> None:
    assert not allowed_origin(handshake(origin))


def test_a_host_outside_allowed_hosts_has_no_own_origin() -> None:
    assert not allowed_origin(handshake("http://evil.example", host="evil.example"))


@override_settings(DEBUG=True, ALLOWED_HOSTS=[])
def test_under_debug_an_empty_allowed_hosts_means_this_machine_as_for_http() -> None:
    assert allowed_origin(handshake("http://127.0.0.1:8000"))
    assert allowed_origin(handshake("http://localhost:8000", host="localhost:8000"))
    assert not allowed_origin(handshake("http://evil.example", host="evil.example"))


@override_settings(DEBUG=False, ALLOWED_HOSTS=[])
def test_without_debug_an_empty_allowed_hosts_allows_no_origin() -> None:
    assert not allowed_origin(handshake("http://127.0.0.1:8000"))


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com", "https://*.example.org"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://app.example.com", True),
        ("http://app.example.com", False),
        ("https://app.example.com:8443", False),
        ("https://a.example.org", True),
        ("https://example.org", True),
        ("https://badexample.org", False),
    ],
)
def test_csrf_trusted_origins_are_allowed_as_django_allows_a_post(
    origin: str, allowed: bool
) -> None:
    assert allowed_origin(handshake(origin)) is allowed


@override_settings(CSRF_TRUSTED_ORIGINS=["https://*.example.org:8443"])
@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("https://a.example.org:8443", True),
        ("https://a.example.org", False),
        ("http://a.example.org:8443", False),
        ("https://example.org", False),
    ],
)
def test_a_trusted_origin_with_a_port_is_allowed_on_that_port_alone(
    origin: str, allowed: bool
) -> None:
    assert allowed_origin(handshake(origin)) is allowed


@override_settings(SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"))
def test_behind_a_tls_proxy_its_header_makes_the_own_origin_https() -> None:
    scope = handshake("https://127.0.0.1:8000")
    assert not allowed_origin(scope)
    scope["headers"].append((b"x-forwarded-proto", b"https"))
    assert allowed_origin(scope)
