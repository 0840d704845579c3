"""`stack.py plan`: decide what to start, or say in one line why nothing can start."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

from scripts.startup.checks import check_port, check_socket_path, port_in_use
from scripts.startup.embedded_redis import find_redis, with_password
from scripts.startup.environment import (
    DJANGO_PORT,
    FLOWER_PASSWORD_FILE,
    FLOWER_PORT,
    FLOWER_USER,
    LOCAL_HOSTS,
    REDIS_PASSWORD_FILE,
    REDIS_URL,
    StackError,
)
from scripts.startup.private import make_private, secret
from scripts.startup.web import open_files, web_processes, web_server


def plan(script: str, production: bool) -> dict[str, str]:
    """Decide what to start; fail before anything starts when a port or a secret is missing."""
    parts = urlsplit(REDIS_URL)
    redis_url, embedded = find_redis()
    if embedded and (parts.hostname or "") not in LOCAL_HOSTS:
        raise StackError(
            f"No Redis answers at REDIS_URL={REDIS_URL}: start it, or point REDIS_URL at "
            "127.0.0.1 so that the scripts start an embedded one"
        )
    if production and not os.environ.get("DJANGO_SECRET_KEY"):
        raise StackError(
            "DJANGO_SECRET_KEY is not set: production settings refuse to start without one; "
            "put one in .env, e.g. DJANGO_SECRET_KEY=$(python3 -c 'import secrets; "
            "print(secrets.token_urlsafe(50))')"
        )
    processes = web_processes()
    web_command = web_server() if production else ""
    bind = os.environ.get("DJANGO_BIND") or "127.0.0.1"
    if production and ":" in bind:
        raise StackError(
            f"DJANGO_BIND={bind} is not an IPv4 address: supervisord's shared web socket is "
            "IPv4 only; use e.g. DJANGO_BIND=0.0.0.0, or a proxy in front for IPv6"
        )
    check_socket_path(production)
    check_port(DJANGO_PORT, "DJANGO_PORT", script)
    check_port(FLOWER_PORT, "FLOWER_PORT", script)
    if embedded:
        redis_port = parts.port or 6379
        if port_in_use(redis_port):
            raise StackError(
                f"Port {redis_port} (from REDIS_URL) is in use but no Redis answers there: stop "
                f"what listens on it or pick another port, e.g. "
                f"REDIS_URL=redis://127.0.0.1:{redis_port + 1}/0 {script}"
            )
    make_private()
    if embedded and not parts.password:
        # Any user of the machine can reach a port on 127.0.0.1: the Redis the stack starts
        # asks for a password, which every process of the stack gets in REDIS_URL.
        redis_url = with_password(REDIS_URL, secret(REDIS_PASSWORD_FILE))
    exports = {
        "DJANGO_PORT": str(DJANGO_PORT),
        "DJANGO_WEB_PROCESSES": str(processes),
        "FLOWER_PORT": str(FLOWER_PORT),
        "REDIS_URL": redis_url,
        "STARTER_EMBEDDED_REDIS": "true" if embedded else "false",
        "STARTER_OPEN_FILES": str(open_files()),
    }
    if production:
        exports["STARTER_WEB_COMMAND"] = web_command
    if not os.environ.get("FLOWER_BASIC_AUTH"):
        # Flower shows task arguments and can stop workers: a password even on loopback.
        password = secret(FLOWER_PASSWORD_FILE)
        exports["FLOWER_BASIC_AUTH"] = f"{FLOWER_USER}:{password}"
        exports["STARTER_FLOWER_PASSWORD"] = password
    return exports
