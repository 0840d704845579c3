"""Other users of the machine get nothing from a running stack: ./start_dev.sh in a fresh
clone, over world-readable leftovers of an earlier run, leaves every file it wrote to its
user alone, starts its Redis behind a password, and keeps Flower behind one; when its
terminal closes, everything it started stops.

The clone runs in this test run's own virtualenv (linked, with the stamp that tells
scripts/bootstrap.sh it is installed): tests/test_start_scripts.py covers the first install.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
import redis

from tests.support.clone import linked_clone
from tests.support.live import cookie_header, follow, start_task
from tests.support.processes import (
    Proc,
    ProcessExited,
    default_signals,
    free_port,
    redis_server_binary,
    stack_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `git clone` of the committed repository, in this run's virtualenv."""
    return linked_clone(tmp_path_factory.mktemp("private") / "starter")


@pytest.fixture
def dev_stack(clone: Path, tmp_path: Path) -> Iterator[tuple[Proc, dict[str, str]]]:
    """./start_dev.sh on free ports with an embedded Redis, over an earlier run's leftovers
    made readable by everyone (as an older version of the scripts left them)."""
    (clone / "logs").mkdir(mode=0o755)
    (clone / "run").mkdir(mode=0o755)
    for leftover in (clone / "logs" / "old.log", clone / "db.sqlite3"):
        leftover.touch()
        leftover.chmod(0o644)
    (clone / "logs").chmod(0o755)
    (clone / "run").chmod(0o755)
    env = stack_env(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        DJANGO_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
    )
    with default_signals(signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        proc = Proc("start_dev", ["./start_dev.sh"], env=env, log_dir=tmp_path, cwd=clone)
    try:

        def up() -> bool:
            if not proc.alive():
                raise ProcessExited(f"start_dev.sh exited:\n{proc.log()[-3000:]}")
            return "Django Starter is up" in proc.log()

        wait_for(up, timeout=300, interval=0.5, what="the stack's summary block")
        yield proc, env
    finally:
        proc.stop()


def program_pid(clone: Path, program: str) -> int:
    ctl = [".venv/bin/supervisorctl", "-c", "deploy/supervisord-dev.conf", "pid", program]
    return int(subprocess.run(ctl, cwd=clone, capture_output=True, text=True).stdout)


def test_start_dev_keeps_files_redis_and_flower_to_its_user(
    clone: Path, dev_stack: tuple[Proc, dict[str, str]]
) -> None:
    proc, env = dev_stack

    # Every file and folder the stack writes: nothing for the group or other users, the
    # leftovers of the earlier run included.
    written = [clone / "db.sqlite3", *(clone / "logs").rglob("*"), *(clone / "run").rglob("*")]
    written += [clone / "logs", clone / "run", clone / "run" / "redis"]
    assert clone / "logs" / "old.log" in written and clone / "run" / "redis.password" in written
    assert any(path.parent.name == "redis" for path in written)  # Redis's own files
    shared = {
        str(path.relative_to(clone)): oct(stat.S_IMODE(path.lstat().st_mode))
        for path in written
        if stat.S_IMODE(path.lstat().st_mode) & 0o077
    }
    assert shared == {}

    # The embedded Redis asks for the password in run/redis.password, which no command line
    # shows, and which every process of the stack has in its REDIS_URL.
    port = int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])
    password = (clone / "run" / "redis.password").read_text().strip()
    with pytest.raises(redis.AuthenticationError):
        redis.Redis(port=port).ping()
    assert redis.Redis(port=port, password=password).ping()
    server = psutil.Process(int((clone / "run" / "redis" / "redis.pid").read_text()))
    assert password not in " ".join(server.cmdline())
    for program in ("worker", "web", "flower"):
        url = psutil.Process(program_pid(clone, program)).environ()["REDIS_URL"]
        assert url == f"redis://:{password}@127.0.0.1:{port}/0", program
    assert password not in proc.log()  # the summary shows redis://:***@...

    # Flower: every page and the API ask for the password (the summary shows it).
    flower_password = (clone / "run" / "flower.password").read_text().strip()
    assert f"(user admin, password {flower_password})" in proc.log()
    flower = f"http://127.0.0.1:{env['FLOWER_PORT']}"
    for path in ("/", "/workers", "/tasks", "/api/workers"):
        assert httpx.get(flower + path, timeout=15).status_code == 401, path
        response = httpx.get(flower + path, auth=("admin", flower_password), timeout=15)
        assert response.status_code == 200, path

    # And the stack works with all that: a task runs to SUCCESS, followed over its WebSocket.
    asyncio.run(run_a_task(f"http://127.0.0.1:{env['DJANGO_PORT']}"))

    # Its terminal closes (a hang-up to the whole process group): every process it started
    # ends, the embedded Redis too, and no port of it listens (Ctrl-C and a SIGTERM to the
    # script alone: tests/test_start_scripts.py).
    started = [server, *psutil.Process(proc.pid).children(recursive=True)]
    proc.signal(signal.SIGHUP)
    assert proc.popen.wait(60) == 129
    _, alive = psutil.wait_procs(started, timeout=10)
    assert alive == [], [p.cmdline() for p in alive]
    ports = [port, int(env["DJANGO_PORT"]), int(env["FLOWER_PORT"])]
    assert [p for p in ports if listening(p)] == []


def listening(port: int) -> bool:
    """True when something accepts connections on `port` on loopback."""
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


async def run_a_task(base_url: str) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        started = await start_task(client, steps=5)
        watch = await follow(base_url, started["ws_url"], cookie=cookie_header(client))
    assert watch.messages[-1]["state"] == "SUCCESS"


def plan(clone: Path, redis_url: str) -> subprocess.CompletedProcess[str]:
    """`scripts/stack.py plan` as ./start_dev.sh runs it, in the clone, on free ports."""
    env = stack_env(redis_url=redis_url, DJANGO_PORT=str(free_port()), FLOWER_PORT=str(free_port()))
    return subprocess.run(
        [".venv/bin/python", "scripts/stack.py", "plan"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_embedded_redis_left_running_is_found_with_its_password(
    clone: Path, tmp_path: Path
) -> None:
    password_file = clone / "run" / "redis.password"
    password_file.parent.mkdir(mode=0o700, exist_ok=True)
    password_file.write_text("left-by-an-earlier-run\n")
    port = free_port()
    config = tmp_path / "redis.conf"  # the password, as scripts/stack.py hands it over
    config.write_text('requirepass "left-by-an-earlier-run"\n')
    argv = [redis_server_binary(), str(config), "--port", str(port), "--bind", "127.0.0.1"]
    server = Proc("redis-left", [*argv, "--save", ""], env={}, log_dir=tmp_path)
    try:
        wait_for(
            lambda: redis.Redis(port=port, password="left-by-an-earlier-run").ping(),
            what="redis-server",
        )
        found = plan(clone, f"redis://127.0.0.1:{port}/0")
        assert found.returncode == 0, found.stderr
        assert (
            f"export REDIS_URL=redis://:left-by-an-earlier-run@127.0.0.1:{port}/0" in found.stdout
        )
        assert "export STARTER_EMBEDDED_REDIS=false" in found.stdout  # it runs already
        # Another password: refused in one line, which does not show the password.
        password_file.write_text("not-the-one-it-has\n")
        refused = plan(clone, f"redis://127.0.0.1:{port}/0")
        assert refused.returncode == 1
        assert f"Redis at REDIS_URL=redis://:***@127.0.0.1:{port}/0 refuses" in refused.stderr
        assert "not-the-one-it-has" not in refused.stderr
    finally:
        server.stop()
        password_file.unlink()
