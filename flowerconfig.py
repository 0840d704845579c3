"""Flower's settings: `celery -A django_starter flower` reads this file from the project folder.

Flower also reads every option from a FLOWER_* environment variable (FLOWER_PORT,
FLOWER_ADDRESS, FLOWER_BASIC_AUTH=user:password, ...) and from the command line
(`--port=8054`), which wins over this file. The project's defaults: port 8054,
loopback only. And one rule for every way of starting it: Flower refuses to listen
on anything but loopback unless FLOWER_BASIC_AUTH (or OAuth) protects it.
https://flower.readthedocs.io/en/latest/config.html
"""

from __future__ import annotations

import ipaddress as _ipaddress
import os as _os
import sys as _sys

from tornado.options import options as _options

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


_options.add_parse_callback(_refuse_open_flower_without_password)
