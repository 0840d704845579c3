"""The three ways to start the stack, each run for real from a fresh clone of the repository.

./start_dev.sh and ./start_all_services.sh run as subprocesses on private free ports (and
their own embedded Redis, or the test Redis); each test runs a task through HTTP and a
WebSocket to SUCCESS, stops the script and checks that nothing it started is left.
The figures (bootstrap, time to healthy, RSS) are printed for the issue note (pytest -s).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from tests.support.live import Watch, cookie_header, follow, start_task
from tests.support.processes import (
    ROOT,
    Proc,
    ProcessExited,
    default_signals,
    free_port,
    stack_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh `git clone` of the committed repository: no .venv, no database, no logs."""
    path = tmp_path_factory.mktemp("clone") / "starter"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    return path


class Stack:
    """One run of a start script in its own process group, and how to look at it."""

    def __init__(
        self,
        clone: Path,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        *,
        embedded_redis: bool = True,
    ) -> None:
        self.clone = clone
        self.embedded_redis = embedded_redis
        self.env = env
        self.web = f"http://127.0.0.1:{env['DJANGO_PORT']}"
        self.started = time.monotonic()
        name = f"{Path(argv[0]).stem}-{env['DJANGO_PORT']}"
        with default_signals(signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            self.proc = Proc(name, argv, env=env, log_dir=log_dir, cwd=clone)

    def health(self, timeout: float) -> dict[str, Any]:
        """Wait until /health/ shows Redis, a worker and Flower; returns the report."""
        return wait_healthy(self.web, self.proc, timeout)

    def ports(self) -> list[int]:
        """The ports the script's own processes listen on."""
        ports = [int(self.env["DJANGO_PORT"]), int(self.env["FLOWER_PORT"])]
        return [*ports, redis_port(self.env)] if self.embedded_redis else ports

    def processes(self) -> list[psutil.Process]:
        """Every process the script started: its process group, descendants and embedded Redis."""
        found = {p for p in psutil.process_iter() if _pgid(p.pid) == self.proc.pid}
        with contextlib.suppress(psutil.NoSuchProcess):
            found.update(psutil.Process(self.proc.pid).children(recursive=True))
        pidfile = self.clone / "run" / "redis" / "redis.pid"
        if pidfile.exists():
            found.add(psutil.Process(int(pidfile.read_text())))
        return list(found)

    def kill_leftovers(self) -> None:
        for process in self.processes():
            process.kill()


def wait_healthy(web: str, proc: Proc, timeout: float) -> dict[str, Any]:
    """Poll /health/ until Redis, a worker and Flower answer, while `proc` lives."""

    def healthy() -> dict[str, Any] | None:
        if not proc.alive():
            raise ProcessExited(f"{proc.name} exited:\n{proc.log()[-3000:]}")
        report: dict[str, Any] = httpx.get(f"{web}/health/", timeout=3).json()
        ready = report["redis"]["ok"] and report["workers"]["online"] and report["flower"]["ok"]
        return report if ready else None

    return dict(wait_for(healthy, timeout=timeout, interval=0.2, what="a healthy stack"))


def program_pid(stack: Stack, program: str) -> int:
    """The pid of a program of the dev stack, as `supervisorctl pid` names it (0: not running)."""
    ctl = [".venv/bin/supervisorctl", "-c", "deploy/supervisord-dev.conf", "pid", program]
    pid = subprocess.run(ctl, cwd=stack.clone, capture_output=True, text=True, check=True)
    return int(pid.stdout)


def worker_process(stack: Stack) -> psutil.Process:
    """The Celery worker's main process, as `supervisorctl pid worker` names it."""
    return psutil.Process(program_pid(stack, "worker"))


def redis_port(env: dict[str, str]) -> int:
    return int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0])


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def listening(port: int) -> bool:
    return any(
        c.laddr and c.laddr.port == port and c.status == psutil.CONN_LISTEN
        for c in psutil.net_connections("tcp")
    )


def assert_nothing_left(stack: Stack, processes: list[psutil.Process]) -> None:
    """No process of the stack is alive and no port of it listens."""
    _, alive = psutil.wait_procs(processes, timeout=10)
    assert alive == [], f"left running: {[p.cmdline() for p in alive]}"
    assert not [p for p in psutil.process_iter() if _pgid(p.pid) == stack.proc.pid]
    assert [port for port in stack.ports() if listening(port)] == []


def report_rss(title: str, processes: list[psutil.Process]) -> float:
    """Print the memory of each process: RSS, and PSS (shared pages counted once in the total);
    return the PSS total in MiB."""
    print(f"\n{title}: RSS and PSS per process")
    total_rss = total_pss = 0
    for process in sorted(processes, key=lambda p: p.pid):
        memory = process.memory_full_info()
        total_rss, total_pss = total_rss + memory.rss, total_pss + memory.pss
        command = " ".join(Path(arg).name if "/" in arg else arg for arg in process.cmdline())
        print(f"  {memory.rss / 2**20:6.1f} {memory.pss / 2**20:6.1f} MiB  {command[:80]}")
    print(f"  {total_rss / 2**20:6.1f} {total_pss / 2**20:6.1f} MiB  total (RSS, PSS)")
    return total_pss / 2**20


async def run_a_task(base_url: str) -> None:
    """POST /tasks/, follow the WebSocket to SUCCESS, as a browser would."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        started = await start_task(client)
        assert started["workers_online"] >= 1
        watch = await follow(base_url, started["ws_url"], cookie=cookie_header(client))
        assert watch.messages[-1]["state"] == "SUCCESS"
        assert watch.messages[-1]["percent"] == 100
        assert watch.close_code == 1000


async def start_a_task_and_wait_for_progress(base_url: str) -> str:
    """Start a task and return its id once the worker is running it."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as client:
        started = await start_task(client)
        for _ in range(100):
            if (await client.get(started["status_url"])).json()["state"] == "PROGRESS":
                return str(started["task_id"])
            await asyncio.sleep(0.1)
    raise AssertionError("the task never reached PROGRESS")


@pytest.fixture
def stacks(logs_dir: Path) -> Iterator[list[Stack]]:
    """Stacks a test started; whatever a failed test leaves is killed here."""
    started: list[Stack] = []
    yield started
    for stack in started:
        stack.proc.stop()
        stack.kill_leftovers()


def services(
    clone: Path, env: dict[str, str], command: str, *, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """`./start_all_services.sh <command>` in the clone, as a user runs it."""
    return subprocess.run(
        ["./start_all_services.sh", command],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def script_env(*, redis_url: str | None = None, **extra: str) -> dict[str, str]:
    """Free ports, and a REDIS_URL on a free port (so the script embeds Redis) unless given."""
    env = stack_env(
        redis_url=redis_url or f"redis://127.0.0.1:{free_port()}/0",
        DJANGO_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
    )
    return {**env, **extra}


async def test_start_dev_bootstraps_a_fresh_clone_and_ctrl_c_stops_everything(
    clone: Path, logs_dir: Path, stacks: list[Stack]
) -> None:
    assert not (clone / ".venv").exists()
    stack = Stack(clone, ["./start_dev.sh"], script_env(), logs_dir)
    stacks.append(stack)

    report = stack.health(timeout=600)
    print(
        f"\nstart_dev.sh first run (bootstrap + migrate + start): "
        f"{time.monotonic() - stack.started:.1f}s to healthy"
    )
    assert (clone / ".venv" / "bin" / "python").exists()
    assert report["workers"]["online"] == 1
    wait_for(lambda: "Django Starter is up" in stack.proc.log(), what="the summary block")
    log = stack.proc.log()
    assert f"App      {stack.web}/" in log
    assert f"Flower   http://127.0.0.1:{stack.env['FLOWER_PORT']}/" in log
    assert "(embedded, data in run/redis)" in log
    assert "Stop     Ctrl-C" in log
    # No FLOWER_BASIC_AUTH: a password made for this run, printed in the block.
    password = re.search(r"\(user admin, password (\S+)\)", log)
    assert password, log
    flower = f"http://127.0.0.1:{stack.env['FLOWER_PORT']}/api/workers"
    assert httpx.get(flower, timeout=15).status_code == 401
    assert httpx.get(flower, auth=("admin", password[1]), timeout=15).status_code == 200
    assert httpx.get(f"{stack.web}/health/", timeout=10).json()["beat"]["running"] is True
    assert (clone / "run" / "redis" / "appendonly.aof").exists() or (
        clone / "run" / "redis" / "appendonlydir"
    ).exists()
    await run_a_task(stack.web)
    assert "long_running_task" in (clone / "logs" / "worker.log").read_text()

    processes = stack.processes()
    pss = report_rss("start_dev.sh (embedded Redis)", processes)
    # The whole development stack, the script itself included, after a task ran.
    assert pss < 350, f"the dev stack takes {pss:.0f} MiB PSS (goal: under 350)"
    table = subprocess.run(
        [".venv/bin/python", "scripts/stack.py", "memory"],
        cwd=clone,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print(table)
    programs = {line.split()[0] for line in table.splitlines()[1:]}
    assert {"supervisord", "redis", "worker", "flower", "web", "reloader", "total"} <= programs
    assert "beat" not in programs  # embedded in the worker: one Django fewer
    # Every program meant to run runs, the embedded Redis among them: status exits 0.
    ctl = [".venv/bin/supervisorctl", "-c", "deploy/supervisord-dev.conf", "status"]
    status = subprocess.run(ctl, cwd=clone, capture_output=True, text=True)
    assert status.returncode == 0, status.stdout
    assert [line.split()[:2] for line in status.stdout.splitlines()] == [
        [program, "RUNNING"] for program in ("flower", "redis", "reloader", "web", "worker")
    ]
    stack.proc.signal(signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
    assert stack.proc.popen.wait(60) == 130
    assert_nothing_left(stack, processes)


async def test_start_dev_uses_a_redis_that_answers_and_sigterm_stops_everything(
    clone: Path, redis_url: str, logs_dir: Path, stacks: list[Stack]
) -> None:
    own_db = redis_url.rsplit("/", 1)[0] + "/3"  # not the session worker's database
    stack = Stack(
        clone, ["./start_dev.sh"], script_env(redis_url=own_db), logs_dir, embedded_redis=False
    )
    stacks.append(stack)

    stack.health(timeout=600)
    wait_for(lambda: "Django Starter is up" in stack.proc.log(), what="the summary block")
    print(
        f"\nstart_dev.sh (installed, external Redis): "
        f"{time.monotonic() - stack.started:.1f}s to the summary block"
    )
    assert f"Redis    {own_db}\n" in stack.proc.log()
    await run_a_task(stack.web)

    # Autoreload: a code change restarts the worker (and Django's runserver) by itself.
    worker_log = clone / "logs" / "worker.log"  # appended to by every run in this clone

    def worker_starts() -> int:
        return worker_log.read_text().count(" ready.")

    starts = worker_starts()
    os.utime(clone / "django_starter" / "tasks.py")
    wait_for(lambda: worker_starts() == starts + 1, timeout=90, what="a restarted worker")
    reload_line = "[reload] django_starter/tasks.py changed: restarting the worker and the web"
    assert reload_line in stack.proc.log()
    stack.health(timeout=60)
    await run_a_task(stack.web)

    # A template restarts the web server alone (runserver runs with --noreload).
    worker_pid = worker_process(stack).pid
    web_pid = program_pid(stack, "web")
    template = next((clone / "packages" / "django-live-progress" / "src").rglob("*.html"))
    os.utime(template)
    wait_for(lambda: program_pid(stack, "web") not in (web_pid, 0), timeout=90, what="a new web")
    assert f"{template.relative_to(clone)} changed: restarting the web server" in stack.proc.log()
    assert worker_process(stack).pid == worker_pid
    stack.health(timeout=60)

    # A crashed worker is started again, and the terminal says so in one line. Its pool
    # processes and its embedded beat end with it: no second beat beside the new one.
    worker = worker_process(stack)
    children = worker.children(recursive=True)
    assert len(children) == 3  # two pool processes and beat
    worker.kill()
    wait_for(lambda: worker_starts() == starts + 2, timeout=90, what="a restarted worker")
    _, orphans = psutil.wait_procs(children, timeout=60)
    assert orphans == [], [p.cmdline() for p in orphans]
    crashes = [line for line in stack.proc.log().splitlines() if "exited: worker" in line]
    assert len(crashes) == 1 and "(terminated by SIGKILL; not expected)" in crashes[0]
    stack.health(timeout=60)

    processes = stack.processes()
    os.kill(stack.proc.pid, signal.SIGTERM)  # the script alone, as a process manager would
    assert stack.proc.popen.wait(60) == 143
    assert_nothing_left(stack, processes)


def test_start_dev_refuses_a_busy_port_and_starts_nothing(
    clone: Path, logs_dir: Path, stacks: list[Stack]
) -> None:
    env = script_env()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", int(env["FLOWER_PORT"])))
        busy.listen()
        stack = Stack(clone, ["./start_dev.sh"], env, logs_dir)
        stacks.append(stack)
        assert stack.proc.popen.wait(600) == 1
    last_line = stack.proc.log().strip().splitlines()[-1]
    assert last_line.startswith(f"Port {env['FLOWER_PORT']} is already in use (FLOWER_PORT)")
    assert f"FLOWER_PORT={int(env['FLOWER_PORT']) + 1} ./start_dev.sh" in last_line
    assert_nothing_left(stack, [])


async def test_start_all_services_runs_the_stack_under_supervisord(
    clone: Path, logs_dir: Path, stacks: list[Stack]
) -> None:
    """The production stack with two Daphne processes on one port (one, the default, is
    what `scripts/stack.py plan` exports: tests/test_web_servers.py)."""
    env = script_env(FLOWER_BASIC_AUTH="admin:s3cret", DJANGO_WEB_PROCESSES="2")
    refused = services(clone, env, "start")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("DJANGO_SECRET_KEY is not set")
    assert not (clone / "run" / "supervisord.pid").exists()

    env["DJANGO_SECRET_KEY"] = "test-only-" + "x" * 40
    try:
        await _start_check_and_stop_supervisord(clone, env)
    finally:  # a failed assertion must not leave supervisord running
        services(clone, env, "stop", timeout=120)


async def _start_check_and_stop_supervisord(clone: Path, env: dict[str, str]) -> None:
    began = time.monotonic()
    started = services(clone, env, "start")
    assert started.returncode == 0, started.stdout + started.stderr
    print(f"\nstart_all_services.sh start (installed): {time.monotonic() - began:.1f}s to healthy")
    assert "Stop     ./start_all_services.sh stop" in started.stdout
    supervisord = psutil.Process(int((clone / "run" / "supervisord.pid").read_text()))
    processes = [supervisord, *supervisord.children(recursive=True)]
    report_rss("start_all_services.sh (supervisord, embedded Redis, 2 Daphne)", processes)

    status_run = services(clone, env, "status", timeout=120)
    assert status_run.returncode == 0, status_run.stdout + status_run.stderr
    status = status_run.stdout
    for program in ("daphne:daphne-0", "daphne:daphne-1", "worker", "beat", "flower", "redis"):
        assert f"{program} " in status and "RUNNING" in status.split(program, 1)[1].split("\n")[0]

    web = f"http://127.0.0.1:{env['DJANGO_PORT']}"
    page = httpx.get(web + "/").text  # DEBUG off: hashed static files, served by WhiteNoise
    script_url = re.search(r'src="(/static/live_progress/progress\.[0-9a-f]{12}\.js)"', page)
    assert script_url and httpx.get(web + script_url[1]).status_code == 200
    assert httpx.get(web + "/no-such-page/").status_code == 404
    assert "Traceback" not in httpx.get(web + "/no-such-page/").text

    await _two_web_processes_share_the_port(env, supervisord, processes)

    await run_a_task(web)
    running = await start_a_task_and_wait_for_progress(web)

    flower = f"http://127.0.0.1:{env['FLOWER_PORT']}"
    assert httpx.get(flower + "/").status_code == 401
    workers = httpx.get(flower + "/api/workers?refresh=1", auth=("admin", "s3cret"), timeout=15)
    assert workers.status_code == 200 and any(name.startswith("worker@") for name in workers.json())

    stopped = services(clone, env, "stop", timeout=120)
    assert stopped.returncode == 0 and "Stopped." in stopped.stdout
    # Graceful: the worker finished the task it was running before it stopped.
    assert f"long_running_task[{running}] succeeded" in (clone / "logs" / "worker.log").read_text()
    _, alive = psutil.wait_procs(processes, timeout=30)
    assert alive == [], [p.cmdline() for p in alive]
    ports = [int(env["DJANGO_PORT"]), int(env["FLOWER_PORT"]), redis_port(env)]
    assert [port for port in ports if listening(port)] == []


def daphnes(processes: list[psutil.Process]) -> list[psutil.Process]:
    """The Daphne processes among `processes` (supervisord runs them as `daphne --fd 0`)."""
    return [p for p in processes if "daphne" in " ".join(p.cmdline()) and "--fd" in p.cmdline()]


def holder(processes: list[psutil.Process], port: int, client_port: int) -> psutil.Process:
    """Which of `processes` holds the server side of our connection from `client_port`."""
    for process in processes:
        for connection in process.net_connections("tcp"):
            remote = connection.raddr
            if remote and remote.port == client_port and connection.laddr.port == port:
                return process
    raise AssertionError(f"no process holds the connection from port {client_port}")


async def _two_web_processes_share_the_port(
    env: dict[str, str], supervisord: psutil.Process, processes: list[psutil.Process]
) -> None:
    # Two Daphne processes, one listening socket: supervisord's, which both inherited.
    port = int(env["DJANGO_PORT"])
    web = daphnes(processes)
    assert len(web) == 2 and len({p.pid for p in web}) == 2
    for process in web:
        assert [c for c in process.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        assert process.ppid() == supervisord.pid

    # One task, several sockets; keep opening until both processes hold some of them
    # (the kernel gives each connection to whichever process accepts it first).
    base = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        kwargs = {"steps": 100, "delay": 0.2}  # 20 s: the sockets open while it runs
        task = await start_task(client, task="long_running_task", kwargs=kwargs)
        cookie = cookie_header(client)
        held: dict[int, list[Watch]] = {p.pid: [] for p in web}
        try:
            for _ in range(200):
                if all(len(watches) >= 3 for watches in held.values()):
                    break
                watch = await Watch(base, task["ws_url"], cookie=cookie).__aenter__()
                await watch.wait_for(lambda w: w.messages, timeout=30, what="the first snapshot")
                owner = holder(web, port, watch.ws.local_address[1])
                if len(held[owner.pid]) < 6:  # PROGRESS_MAX_SOCKETS_PER_OWNER is per process
                    held[owner.pid].append(watch)
                else:
                    await watch.__aexit__(None, None, None)
            print(f"\nsockets per Daphne process: { {pid: len(w) for pid, w in held.items()} }")
            assert all(len(watches) >= 3 for watches in held.values()), held

            # Progress reaches every socket, whichever process holds it, up to SUCCESS.
            every = [watch for watches in held.values() for watch in watches]
            for watch in every:
                await watch.until_closed(timeout=300)
        finally:
            for watch in [w for watches in held.values() for w in watches]:
                await watch.__aexit__(None, None, None)
    for pid, watches in held.items():
        for watch in watches:
            assert watch.states[-1] == "SUCCESS", (pid, watch.states)
            assert watch.messages[-1]["percent"] == 100 and watch.close_code == 1000
            assert "PROGRESS" in watch.states, (pid, watch.states)  # live, not only the end
            seqs = [message["seq"] for message in watch.messages]
            assert seqs == sorted(seqs) and len(set(seqs)) > 2, (pid, seqs)

    # Plain requests land on both processes too.
    seen: set[int] = set()
    for _ in range(200):
        if len(seen) == 2:
            break
        with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
            connection.sendall(b"GET /health/ HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert connection.recv(64).startswith(b"HTTP/1.1 ")  # accepted: a process holds it
            seen.add(holder(web, port, connection.getsockname()[1]).pid)
    assert seen == {p.pid for p in web}


def test_start_all_services_refuses_bad_web_settings(clone: Path) -> None:
    env = script_env(DJANGO_SECRET_KEY="test-only-" + "x" * 40, DJANGO_WEB_PROCESSES="0")
    refused = services(clone, env, "start")
    assert refused.returncode == 1
    last_line = refused.stderr.strip().splitlines()[-1]
    assert last_line.startswith("DJANGO_WEB_PROCESSES='0' is not a number of processes")
    assert not (clone / "run" / "supervisord.pid").exists()

    env.update(DJANGO_WEB_PROCESSES="2", DJANGO_BIND="::")  # supervisord's socket: IPv4
    refused = services(clone, env, "start")
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines()[-1].startswith("DJANGO_BIND=:: is not an IPv4")
    assert not (clone / "run" / "supervisord.pid").exists()


def test_manual_commands_work_as_typed(clone: Path, redis_url: str, logs_dir: Path) -> None:
    """The README's terminals in an activated virtualenv (free ports, not 8054 and 8001)."""
    subprocess.run(["scripts/bootstrap.sh"], cwd=clone, check=True, timeout=600)
    django_port, flower_port = free_port(), free_port()
    env = stack_env(redis_url=redis_url.rsplit("/", 1)[0] + "/4", FLOWER_PORT=str(flower_port))
    env["PATH"] = f"{clone / '.venv' / 'bin'}:{env['PATH']}"

    def run(*argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, env=env, cwd=clone, capture_output=True, text=True, timeout=120)

    run("python", "manage.py", "migrate")
    terminals = [
        ["celery", "-A", "django_starter", "worker", "-l", "info"],
        ["celery", "-A", "django_starter", "beat", "-l", "info"],
        ["celery", "-A", "django_starter", "flower", f"--port={flower_port}"],
        ["python", "manage.py", "runserver", str(django_port)],
    ]
    started = [
        Proc(f"manual-{name}", argv, env=env, log_dir=logs_dir, cwd=clone)
        for name, argv in zip(("worker", "beat", "flower", "web"), terminals, strict=True)
    ]
    try:
        web = f"http://127.0.0.1:{django_port}"
        wait_healthy(web, started[-1], timeout=90)
        wait_for(
            lambda: httpx.get(f"{web}/health/", timeout=3).json()["beat"]["running"],
            timeout=60,
            what="beat's heartbeat",
        )
        asyncio.run(run_a_task(web))

        shell = run(
            "python",
            "manage.py",
            "shell",
            "-c",
            "from django_starter.tasks import demo_task; r = demo_task.delay(); "
            "r.get(timeout=30); print(r.status)",
        )
        assert shell.stdout.strip().splitlines()[-1] == "SUCCESS"
        inspect = run("celery", "-A", "django_starter", "inspect", "active")
        assert inspect.returncode == 0 and "1 node online" in inspect.stdout
        ps = subprocess.run(["ps", "auxww"], capture_output=True, text=True).stdout
        assert any("celery -A django_starter worker" in line for line in ps.splitlines())

        exposed = run(
            "celery", "-A", "django_starter", "flower", "--address=0.0.0.0", f"--port={free_port()}"
        )
        assert exposed.returncode == 2
        assert "refuses to listen on '0.0.0.0' without a password" in exposed.stderr
    finally:
        for proc in started:
            proc.stop()


def test_a_clone_too_deep_for_supervisords_socket_is_named_before_anything_starts(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("deeper-" * 10) / "starter"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(deep)], check=True)
    plan = [sys.executable, "scripts/stack.py", "plan", "--script", "./start_dev.sh"]
    refused = subprocess.run(plan, cwd=deep, env=script_env(), capture_output=True, text=True)
    assert refused.returncode == 1
    [line] = refused.stderr.strip().splitlines()
    assert "too deep for supervisord's control socket" in line and "shorter path" in line
    assert not (deep / "run").exists()  # nothing made, nothing started
