"""Which pages may open a WebSocket: the Origin must match scheme, host and port.

Channels' AllowedHostsOriginValidator compares only the Origin's host with
ALLOWED_HOSTS, so a page on http://127.0.0.1:47899 (any local program) could read a
stream served on port 8001 with the visitor's cookies. Here an origin is allowed when
it is the request's own (its Host is in ALLOWED_HOSTS, same scheme and port) or listed
in CSRF_TRUSTED_ORIGINS: Django's rule for a POST's Origin, applied to the handshake.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}


def origin_of(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin such as 'https://example.com', None if malformed."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme]


def _header(scope: dict[str, Any], name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return bytes(value).decode("latin1")
    return ""


def _allowed_hosts() -> list[str]:
    """ALLOWED_HOSTS as Django reads it for HTTP: under DEBUG, an empty list means local."""
    hosts = list(settings.ALLOWED_HOSTS)
    if settings.DEBUG and not hosts:
        hosts = [".localhost", "127.0.0.1", "[::1]"]  # as django.http.HttpRequest.get_host
    return hosts


def _own_origin(scope: dict[str, Any]) -> tuple[str, str, int] | None:
    """The origin the page would have if it came from this server (its Host header)."""
    host = _header(scope, b"host")
    domain, _port = split_domain_port(host)
    if not domain or not validate_host(domain, _allowed_hosts()):
        return None
    secure = scope.get("scheme") == "wss"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy:  # behind a TLS proxy Daphne sees ws://; the proxy's header says https
        name, value = proxy
        header = name.removeprefix("HTTP_").replace("_", "-").lower().encode()
        secure = _header(scope, header) == value
    return origin_of(f"{'https' if secure else 'http'}://{host}")


def _trusted(origin: tuple[str, str, int], pattern: str) -> bool:
    """Whether one CSRF_TRUSTED_ORIGINS entry (perhaps 'https://*.example.com') allows it."""
    wildcard = "://*." in pattern
    allowed = origin_of(pattern.replace("://*.", "://", 1))
    if allowed is None:
        return False
    scheme, host, port = origin
    if wildcard:
        return (scheme, port) == (allowed[0], allowed[2]) and (
            host == allowed[1] or host.endswith("." + allowed[1])
        )
    return origin == allowed


def allowed_origin(scope: dict[str, Any]) -> bool:
    """True when the handshake's Origin is the server's own or a trusted one."""
    origin = origin_of(_header(scope, b"origin"))
    if origin is None:
        return False
    if origin == _own_origin(scope):
        return True
    return any(_trusted(origin, pattern) for pattern in settings.CSRF_TRUSTED_ORIGINS)


class OriginValidator:
    """ASGI middleware: a WebSocket handshake from any other origin is refused (403)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not allowed_origin(scope):
            return await WebsocketDenier()(scope, receive, send)  # type: ignore[arg-type]
        return await self.application(scope, receive, send)
