"""The production web program: which ASGI server, how many processes, how many open files."""

from __future__ import annotations

import os

from scripts.startup.environment import StackError

# What DJANGO_ASGI_SERVER may name: the command each web process runs on the socket that
# supervisord binds and hands it as file descriptor 0 (deploy/supervisord.conf).
ASGI_APPLICATION = "django_starter.asgi:application"
WEB_SERVERS = {
    "daphne": f"daphne --fd 0 {ASGI_APPLICATION}",
    "uvicorn": (
        "uvicorn --fd 0 --loop uvloop --ws websockets-sansio --ws-per-message-deflate false "
        f"--lifespan off --no-access-log --no-proxy-headers {ASGI_APPLICATION}"
    ),
}
# supervisord's minfds: the open-files limit it (and every process it starts) gets, capped
# at the hard limit, which only root can raise (supervisord refuses to start below minfds).
OPEN_FILES = 65536


def web_processes(value: str | None = None) -> int:
    """DJANGO_WEB_PROCESSES: how many Daphne processes share the web port under supervisord.

    A whole number from 1, or `auto` for one per core; default 1 (see docs/deploying.md).
    """
    value = (os.environ.get("DJANGO_WEB_PROCESSES") if value is None else value) or "1"
    if value.strip().lower() == "auto":
        return os.cpu_count() or 1
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise StackError(
            f"DJANGO_WEB_PROCESSES={value!r} is not a number of processes: use a whole number "
            "from 1 (the default), or auto for one per core, e.g. DJANGO_WEB_PROCESSES=2"
        )
    return count


def web_server(value: str | None = None) -> str:
    """DJANGO_ASGI_SERVER: `daphne` (the default) or `uvicorn`; the command it runs."""
    value = (os.environ.get("DJANGO_ASGI_SERVER") if value is None else value) or "daphne"
    command = WEB_SERVERS.get(value.strip().lower())
    if command is None:
        raise StackError(
            f"DJANGO_ASGI_SERVER={value!r} is not a server this stack runs: use "
            f"{' or '.join(WEB_SERVERS)} (the default is daphne), e.g. DJANGO_ASGI_SERVER=uvicorn"
        )
    return command


def open_files(wanted: int = OPEN_FILES) -> int:
    """The open-files limit to ask supervisord for: `wanted`, or the hard limit if lower."""
    import resource

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
