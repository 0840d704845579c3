"""The development loop tells the truth: one line per request, a reloader that sees new code.

./start_dev.sh runs from a fresh clone, its output sent to a file; the other tests start
only the part each behaviour needs (runserver, or scripts/reload.py under a stub supervisorctl).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.clone import linked_clone
from tests.support.processes import ROOT, Proc, default_signals, free_port, stack_env, wait_for

pytestmark = [pytest.mark.slow]


def test_start_dev_to_a_file_with_an_external_redis(
    tmp_path: Path, short_tmp: Path, redis_url: str, logs_dir: Path
) -> None:
    """`./start_dev.sh > dev.log`: the ready block and the web server's lines all readable,
    and `supervisorctl status` lists only what runs (no embedded Redis), exit code 0."""
    clone = linked_clone(short_tmp / "starter")  # installed: tests/test_start_scripts.py
    django_port = free_port()
    env = stack_env(
        redis_url=redis_url.rsplit("/", 1)[0] + "/6",
        DJANGO_PORT=str(django_port),
        FLOWER_PORT=str(free_port()),
    )
    env.pop("DJANGO_SETTINGS_MODULE")
    output = tmp_path / "dev.log"
    with output.open("w") as file, default_signals(signal.SIGINT, signal.SIGTERM):
        # "w", as a shell's `>` opens it: no O_APPEND on the script's own writes.
        script = subprocess.Popen(
            ["./start_dev.sh"], cwd=clone, env=env, stdout=file, stderr=subprocess.STDOUT
        )
    try:
        wait_for(
            lambda: "Stop     Ctrl-C" in output.read_text() or script.poll() is not None,
            timeout=600,
            what="the ready block",
        )
        assert script.poll() is None, output.read_text()
        web = f"http://127.0.0.1:{django_port}"
        assert httpx.get(f"{web}/?from=test", timeout=10).status_code == 200
        wait_for(lambda: "GET /?from=test 200" in output.read_text(), what="the request line")
        ctl = [".venv/bin/supervisorctl", "-c", "deploy/supervisord-dev.conf", "status"]
        status = subprocess.run(ctl, cwd=clone, capture_output=True, text=True)
    finally:
        script.terminate()
        script.wait(60)
    assert status.returncode == 0, status.stdout
    programs = {line.split()[0]: line.split()[1] for line in status.stdout.splitlines()}
    assert programs == dict.fromkeys(["flower", "reloader", "web", "worker"], "RUNNING")

    text = output.read_text()
    assert "\r" not in text and "\x1b" not in text and "\0" not in text
    lines = text.splitlines()
    block = lines.index(
        "Django Starter is up: web, Celery worker and beat, Flower and Redis all answer."
    )
    assert lines[block - 1] == lines[block + 7] == "-" * len(lines[block - 1])
    assert lines[block + 1] == f"  App      {web}/"
    assert lines[block + 6].startswith("  Stop     Ctrl-C")
    assert any(line.startswith("Starting ASGI/Daphne") for line in lines[:block]), text
    assert len([line for line in lines if "GET /?from=test 200" in line]) == 1


def test_runserver_prints_each_request_once(
    redis_url: str, stack_database: Path, logs_dir: Path
) -> None:
    port = free_port()
    env = stack_env(
        redis_url=redis_url,
        database_path=stack_database,
        DJANGO_SETTINGS_MODULE="django_starter.settings",
        DJANGO_DEBUG="1",
    )
    argv = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    proc = Proc(f"runserver-{port}", argv, env=env, log_dir=logs_dir)
    try:
        web = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{web}/health/", timeout=3), timeout=60, what="runserver")
        assert httpx.get(f"{web}/?once=1", timeout=10).status_code == 200
        assert httpx.get(f"{web}/no-such-page/", timeout=10).status_code == 404
        wait_for(lambda: "GET /no-such-page/ 404" in proc.log(), what="the 404 request line")
    finally:
        proc.stop()
    lines = proc.log().splitlines()
    assert len([line for line in lines if "GET /?once=1 200" in line]) == 1, lines
    assert len([line for line in lines if "GET /no-such-page/ 404" in line]) == 1, lines
    assert len([line for line in lines if line == "Not Found: /no-such-page/"]) == 1, lines


def test_reloader_sees_an_app_package_created_while_it_runs(tmp_path: Path, logs_dir: Path) -> None:
    """scripts/reload.py watches the whole tree: a new app's first .py file restarts the
    worker and the web server (supervisorctl is a stub here that records its arguments)."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    (project / "scripts" / "reload.py").write_text((ROOT / "scripts" / "reload.py").read_text())
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "supervisorctl-calls"
    stub = bin_dir / "supervisorctl"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    python = bin_dir / "python"  # reload.py runs the supervisorctl beside its interpreter
    python.symlink_to(Path(sys.executable).resolve())
    argv = [str(python), "scripts/reload.py", "deploy/supervisord-dev.conf"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = Proc("reload-new-app", argv, env=env, log_dir=logs_dir, cwd=project)
    try:
        app = project / "billing"
        # watchfiles is watching once a change is seen; keep touching until it is.
        wait_for(lambda: _touch(project / "warmup.py") or calls.exists(), timeout=30, interval=1)
        app.mkdir()
        (app / "__init__.py").write_text("")
        (app / "models.py").write_text("# a new app\n")
        wait_for(lambda: "billing/" in proc.log(), timeout=30, what="the reload line")
    finally:
        proc.stop()
    assert "-c deploy/supervisord-dev.conf restart worker web" in calls.read_text()
    reloads = [line for line in proc.log().splitlines() if "billing/" in line]
    assert reloads[0].startswith("[reload] billing/"), reloads
    assert reloads[0].endswith("changed: restarting the worker and the web server"), reloads


def _touch(path: Path) -> bool:
    """Change `path`; False, so that wait_for goes on to the next condition."""
    path.write_text(f"# {os.urandom(4).hex()}\n")
    return False
