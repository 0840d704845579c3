"""Flower's settings: `celery -A django_starter flower` reads this file from the project folder.

Flower also reads every option from a FLOWER_* environment variable (FLOWER_PORT,
FLOWER_ADDRESS, FLOWER_BASIC_AUTH=user:password, ...) and from the command line
(`--port=8054`), which wins over this file. The project's defaults: port 8054,
loopback only. And rules for every way of starting it: Flower refuses to listen on
anything but loopback unless FLOWER_BASIC_AUTH (or OAuth) protects it, refuses a
FLOWER_BASIC_AUTH entry with an empty user or password (":" would let anyone in), and
bound to one address it answers 403 to a Host header other than that address,
localhost or 127.0.0.1 (a page whose DNS name rebinds to 127.0.0.1 cannot read it).
https://flower.readthedocs.io/en/latest/config.html
"""

from __future__ import annotations

import ipaddress as _ipaddress
import os as _os
import sys as _sys

from flower.app import Flower as _Flower  # type: ignore[import-untyped]
from tornado.httputil import HTTPServerRequest as _Request
from tornado.options import options as _options
from tornado.web import ErrorHandler as _ErrorHandler

port = int(_os.environ.get("FLOWER_PORT") or 8054)
address = _os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"
basic_auth = [pair for pair in _os.environ.get("FLOWER_BASIC_AUTH", "").split(",") if pair]


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return _ipaddress.ip_address(host).is_loopback
    except ValueError:  # "" (every interface) or a host name
        return False


def _refuse_open_flower_without_password() -> None:
    """Runs once the command line is parsed, so it sees the final address."""
    if _options.unix_socket or _options.basic_auth or _options.auth:
        return
    if not _is_loopback(_options.address):
        _sys.stderr.write(
            f"Flower refuses to listen on {_options.address or 'every interface'!r} without a "
            "password: set FLOWER_BASIC_AUTH=user:password, or keep the default 127.0.0.1\n"
        )
        _sys.exit(2)


def _refuse_empty_credentials() -> None:
    """An entry such as ":" or "admin:" would make an empty password (or user) the key."""
    for pair in _options.basic_auth or []:
        user, colon, password = pair.partition(":")
        if not (user.strip() and colon and password.strip()):
            shown = f"{user or '<empty user>'}:{'***' if password else '<empty password>'}"
            _sys.stderr.write(
                f"Flower refuses FLOWER_BASIC_AUTH entry {shown!r}: every entry must be "
                "user:password with neither part empty (e.g. admin:<a long random password>)\n"
            )
            _sys.exit(2)


_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "[::1]"}


def _refuse_other_hosts() -> None:
    """A small wrapper around Flower's request routing (Tornado has no allowed-hosts
    setting): a Host header other than the bound address or a loopback name gets 403."""
    bound = _options.address.lower()
    if bound in ("", "0.0.0.0", "::", "[::]"):
        return  # every interface: the rule above requires a password instead
    allowed = _LOOPBACK_NAMES | {bound, f"[{bound}]"}
    route = _Flower.find_handler

    def find_handler(self: _Flower, request: _Request, **kwargs: object) -> object:
        if request.host_name.lower() not in allowed:
            return self.get_handler_delegate(request, _ErrorHandler, {"status_code": 403})
        return route(self, request, **kwargs)

    _Flower.find_handler = find_handler


_options.add_parse_callback(_refuse_open_flower_without_password)
_options.add_parse_callback(_refuse_empty_credentials)
_options.add_parse_callback(_refuse_other_hosts)
