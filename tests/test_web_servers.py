"""The production web program as supervisord runs it: Daphne or Uvicorn on its shared socket.

Each test runs deploy/supervisord.conf's own web program section (the `daphne` program,
its command from DJANGO_ASGI_SERVER through scripts/stack.py) under a private supervisord
started with the usual soft limit of 1,024 open files, against the session's Redis and
worker; then it reads the web process's limits and runs a task to SUCCESS through
HTTP and a WebSocket.
"""

from __future__ import annotations

import re
import resource
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from scripts.startup.web import open_files, web_server
from tests.support.clone import linked_clone
from tests.support.live import cookie_header, follow, start_task
from tests.support.processes import ROOT, Proc, ProcessExited, free_port, stack_env, wait_for
from tests.test_start_scripts import run_a_task, script_env

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BIN = Path(sys.executable).parent
# serve(server) -> (base URL, the web process)
Serve = Callable[[str], tuple[str, psutil.Process]]


def web_program_section() -> str:
    """The `[fcgi-program:daphne]` section of deploy/supervisord.conf, as it is."""
    conf = (ROOT / "deploy" / "supervisord.conf").read_text()
    match = re.search(r"^\[fcgi-program:daphne\]\n(?:[^\[;\n].*\n)+", conf, re.MULTILINE)
    assert match, "deploy/supervisord.conf has no [fcgi-program:daphne] section"
    return match[0]


def supervisord_conf(tmp: Path) -> Path:
    """A private supervisord running only the production web program."""
    web = web_program_section().replace("%(here)s/..", str(ROOT))
    web = re.sub(r"stdout_logfile=.*", f"stdout_logfile={tmp}/web-%(process_num)s.log", web)
    head = (ROOT / "deploy" / "supervisord.conf").read_text()
    minfds = re.search(r"^minfds=.*$", head, re.MULTILINE)
    assert minfds, "deploy/supervisord.conf sets no minfds"
    path = tmp / "supervisord.conf"
    path.write_text(
        f"[supervisord]\nlogfile={tmp}/supervisord.log\npidfile={tmp}/supervisord.pid\n"
        f"{minfds[0]}\n\n"
        f"[unix_http_server]\nfile={tmp}/supervisor.sock\nchmod=0700\n\n"
        f"[supervisorctl]\nserverurl=unix://{tmp}/supervisor.sock\n\n"
        "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory=supervisor.rpcinterface:make_main_rpcinterface\n\n"
        f"{web}"
    )
    return path


def soft_limit_1024() -> None:
    """What a login shell usually gives: 1,024 open files (the hard limit stays)."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))


def web_processes(supervisord: psutil.Process) -> list[psutil.Process]:
    return [p for p in supervisord.children() if "--fd" in p.cmdline()]


@pytest.fixture
def serve(tmp_path: Path, redis_url: str, stack_database: Path, worker: Proc) -> Iterator[object]:
    """serve(server) -> (base URL, web process): the web program under supervisord."""
    started: list[subprocess.Popen[bytes]] = []

    def start(server: str) -> tuple[str, psutil.Process]:
        port = free_port()
        env = stack_env(
            redis_url=redis_url,
            database_path=stack_database,
            DJANGO_DEBUG="1",  # GET / without collected static files
            DJANGO_SECRET_KEY="test-only-" + "x" * 40,
            DJANGO_BIND="127.0.0.1",
            DJANGO_PORT=str(port),
            DJANGO_WEB_PROCESSES="1",
            STARTER_WEB_COMMAND=web_server(server),
            STARTER_OPEN_FILES=str(open_files()),
        )
        conf = supervisord_conf(tmp_path)
        argv = [str(BIN / "supervisord"), "-n", "-c", str(conf)]
        popen = subprocess.Popen(argv, env=env, cwd=ROOT, preexec_fn=soft_limit_1024)
        started.append(popen)
        supervisord = psutil.Process(popen.pid)
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            if popen.poll() is not None:
                log = (tmp_path / "supervisord.log").read_text(errors="replace")
                raise ProcessExited(f"supervisord exited:\n{log[-3000:]}")
            try:
                return httpx.get(f"{base}/health/", timeout=2).status_code in (200, 503)
            except httpx.HTTPError:
                return False

        wait_for(answers, timeout=60, what=f"{server} under supervisord")
        (web,) = web_processes(supervisord)
        return base, web

    yield start
    for popen in started:
        popen.terminate()
        try:
            popen.wait(30)
        except subprocess.TimeoutExpired:
            popen.kill()


def open_files_limits(process: psutil.Process) -> tuple[int, int]:
    """Soft and hard 'Max open files' from /proc/<pid>/limits."""
    for line in Path(f"/proc/{process.pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            soft, hard = line.split()[3:5]
            return int(soft), int(hard)
    raise AssertionError("no 'Max open files' line")


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_the_web_program_serves_http_and_websockets_with_room_for_sockets(
    serve: Serve, server: str
) -> None:
    base, web = serve(server)
    assert Path(web.cmdline()[1]).name == server  # .venv/bin/python .venv/bin/<server>
    soft, hard = open_files_limits(web)
    assert soft >= 4096 or soft == hard, (soft, hard)
    if server == "uvicorn":
        assert "websockets-sansio" in web.cmdline() and "uvloop" in web.cmdline()

    health = httpx.get(f"{base}/health/", timeout=5)
    assert health.status_code == 200 and health.json()["workers"]["online"] >= 1
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        started = await start_task(client, task="long_running_task", kwargs={"steps": 5})
        watch = await follow(base, started["ws_url"], cookie=cookie_header(client))
    assert watch.messages[-1]["state"] == "SUCCESS"
    assert watch.messages[-1]["percent"] == 100
    assert watch.close_code == 1000


def test_a_web_process_raises_its_soft_limit_and_warns_once_when_the_hard_one_is_too_low() -> None:
    def hard_2048() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 2048))

    code = (
        "import resource; from diagnostics.limits import raise_open_files_limit; "
        "raise_open_files_limit(10000); print(resource.getrlimit(resource.RLIMIT_NOFILE)[0])"
    )
    run = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=hard_2048,
        check=True,
    )
    assert run.stdout.strip() == "2048"
    (warning,) = run.stderr.strip().splitlines()
    assert "2048" in warning and "DJANGO_WEB_MAX_SOCKETS=10000" in warning

    quiet = subprocess.run(
        [sys.executable, "-c", code.replace("10000", "1000")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        preexec_fn=hard_2048,
        check=True,
    )
    assert quiet.stdout.strip() == "2048" and quiet.stderr == ""


def test_an_unknown_asgi_server_is_one_line_naming_the_allowed_ones(redis_url: str) -> None:
    env = stack_env(
        redis_url=redis_url,
        DJANGO_SECRET_KEY="test-only-" + "x" * 40,
        DJANGO_ASGI_SERVER="gunicorn",
        DJANGO_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
    )
    argv = [sys.executable, "scripts/stack.py", "plan", "--production"]
    run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 1 and run.stdout == ""
    (line,) = run.stderr.strip().splitlines()
    assert "DJANGO_ASGI_SERVER='gunicorn'" in line and "daphne" in line and "uvicorn" in line

    env["DJANGO_ASGI_SERVER"] = "uvicorn"
    plan = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    assert "export STARTER_WEB_COMMAND='uvicorn --fd 0 " in plan.stdout
    assert "export DJANGO_WEB_PROCESSES=1\n" in plan.stdout  # the default: one web process
    assert re.search(r"^export STARTER_OPEN_FILES=\d+$", plan.stdout, re.MULTILINE)


async def test_start_all_services_runs_uvicorn_from_a_fresh_clone(short_tmp: Path) -> None:
    """The whole production stack, DJANGO_ASGI_SERVER=uvicorn, started from a shell whose
    soft limit is 1,024 open files: /health/, a task's SUCCESS over a WebSocket, /metrics.
    The clone runs in this run's virtualenv (tests/test_start_scripts.py installs one)."""
    clone = linked_clone(short_tmp / "starter")  # a short path: supervisord's socket is in it
    env = script_env(
        FLOWER_BASIC_AUTH="admin:s3cret",
        DJANGO_SECRET_KEY="test-only-" + "x" * 40,
        DJANGO_ASGI_SERVER="uvicorn",
        DJANGO_WEB_PROCESSES="2",
    )

    def services(command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["./start_all_services.sh", command],
            cwd=clone,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
            preexec_fn=soft_limit_1024,
        )

    try:
        started = services("start")
        assert started.returncode == 0, started.stdout + started.stderr
        supervisord = psutil.Process(int((clone / "run" / "supervisord.pid").read_text()))
        web = web_processes(supervisord)
        assert len(web) == 2
        for process in web:
            assert Path(process.cmdline()[1]).name == "uvicorn"
            soft, hard = open_files_limits(process)
            assert soft >= 4096 or soft == hard, (soft, hard)

        base = f"http://127.0.0.1:{env['DJANGO_PORT']}"
        assert httpx.get(f"{base}/health/", timeout=5).status_code == 200
        await run_a_task(base)
        text = httpx.get(f"{base}/metrics", timeout=5).text  # loopback: answered
        assert "starter_tasks_started_total" in text
    finally:
        services("stop")
