"""The development loop tells the truth: one line per request, a reloader that sees new code.

The whole ./start_dev.sh runs in tests/test_start_scripts.py; these start only the part
each behaviour needs (runserver, or scripts/reload.py under a stub supervisorctl).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import httpx
import pytest

from tests.support.processes import ROOT, Proc, free_port, stack_env, wait_for

pytestmark = [pytest.mark.slow]


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
