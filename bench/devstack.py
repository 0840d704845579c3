"""`./start_dev.sh` from a fresh `git clone`: start → healthy, and memory per process.

Run as the tests run it (tests/test_start_scripts.py): free DJANGO_PORT and FLOWER_PORT,
a REDIS_URL on a free port (so the script embeds its Redis), the script in a process
group of its own, stopped with SIGINT to that group (Ctrl-C). The first run bootstraps
.venv from the lock file; the second, in the same clone, is the everyday start.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil

from tests.support.processes import ROOT, Proc, default_signals, free_port, wait_for

from .table import Row

PSS_GOAL_MIB = 350


@dataclass
class Memory:
    label: str
    rss: int
    pss: int


def script_env() -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DJANGO_", "CELERY_", "FLOWER_", "PROGRESS_"))
        and key not in ("PYTHONPATH", "REDIS_URL", "DATABASE_URL", "VIRTUAL_ENV")
    }
    env.update(
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
        DJANGO_PORT=str(free_port()),
        FLOWER_PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    return env


def _pgid(pid: int) -> int | None:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return None


def processes(proc: Proc, clone: Path) -> list[psutil.Process]:
    """The script's process group, its descendants, and the embedded Redis."""
    found = {p for p in psutil.process_iter() if _pgid(p.pid) == proc.pid}
    with contextlib.suppress(psutil.NoSuchProcess):
        found.update(psutil.Process(proc.pid).children(recursive=True))
    pidfile = clone / "run" / "redis" / "redis.pid"
    if pidfile.exists():
        with contextlib.suppress(psutil.NoSuchProcess, ValueError):
            found.add(psutil.Process(int(pidfile.read_text())))
    return sorted(found, key=lambda p: p.pid)


def label(process: psutil.Process) -> str:
    """A short name for a process of the stack (whatever deploy/supervisord-dev.conf runs)."""
    command = " ".join(process.cmdline())
    parent = process.parent()
    parent_command = " ".join(parent.cmdline()) if parent else ""
    if "bin/supervisord" in command:
        return "supervisord"
    if "reload" in command and ("reload.py" in command or "reload-worker" in command):
        return "reloader (watchfiles)"
    if "stack.py redis-server" in command:
        return "stack.py redis-server (wrapper)"
    if "redis-server" in command:
        return "redis-server"
    if "celery" in command and " worker" in command:
        if parent_command != command:
            return "worker (main)"
        embedded = "--beat" in command.split() or "-B" in command.split()
        return "worker children (pool" + (", embedded beat)" if embedded else ")")
    if "celery" in command and " beat" in command:
        return "beat"
    if "flower" in command:
        return "flower"
    if "runserver" in command:
        if "--noreload" in command:
            return "runserver (Daphne, --noreload)"
        if "runserver" in parent_command:
            return "runserver (serving child)"
        return "runserver (autoreloader parent)"
    if "start_dev.sh" in command:
        return "start_dev.sh (bash)"
    return " ".join(Path(arg).name for arg in process.cmdline()[:3])[:40]


def memory(procs: list[psutil.Process]) -> list[Memory]:
    out = []
    for process in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            info = process.memory_full_info()
            out.append(Memory(label(process), info.rss, info.pss))
    return out


def wait_healthy(web: str, proc: Proc, timeout: float) -> None:
    """/health/ shows Redis, a worker and Flower, while the script lives."""

    def healthy() -> bool:
        if not proc.alive():
            raise RuntimeError(f"start_dev.sh exited:\n{proc.log()[-3000:]}")
        report: dict[str, Any] = httpx.get(f"{web}/health/", timeout=3).json()
        return bool(
            report["redis"]["ok"] and report["workers"]["online"] and report["flower"]["ok"]
        )

    wait_for(healthy, timeout=timeout, interval=0.2, what="a healthy dev stack")


def run_once(clone: Path, log_dir: Path, name: str, *, settle: float) -> tuple[float, list[Memory]]:
    """start_dev.sh until healthy (seconds), memory after `settle` s, then Ctrl-C."""
    env = script_env()
    started = time.perf_counter()
    with default_signals(signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        proc = Proc(name, ["./start_dev.sh"], env=env, log_dir=log_dir, cwd=clone)
    procs: list[psutil.Process] = []
    try:
        wait_healthy(f"http://127.0.0.1:{env['DJANGO_PORT']}", proc, timeout=600)
        seconds = time.perf_counter() - started
        time.sleep(settle)
        procs = processes(proc, clone)
        return seconds, memory(procs)
    finally:
        procs = procs or processes(proc, clone)
        proc.signal(signal.SIGINT)  # Ctrl-C reaches the terminal's whole process group
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.popen.wait(60)
        _, alive = psutil.wait_procs(procs, timeout=10)
        for process in alive:
            with contextlib.suppress(psutil.NoSuchProcess):
                process.kill()
        proc.stop()


def measure(*, settle: float = 5.0) -> dict[str, Any]:
    """A fresh clone: first run (bootstrap) and second run; memory from the second."""
    work = Path(tempfile.mkdtemp(prefix="starter-bench-dev-"))
    try:
        clone = work / "starter"
        subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
        first, _ = run_once(clone, work, "start_dev-first", settle=0)
        second, mem = run_once(clone, work, "start_dev-second", settle=settle)
        commit = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        return {"first": first, "second": second, "memory": mem, "commit": commit}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def rows(result: dict[str, Any], *, settle: float = 5.0) -> list[Row]:
    mem: list[Memory] = result["memory"]
    total_rss = sum(m.rss for m in mem)
    total_pss = sum(m.pss for m in mem)
    out = [
        Row(
            "dev stack first run → healthy",
            result["first"],
            "s",
            f"fresh clone of {result['commit']}: .venv from the lock file, migrate, start",
        ),
        Row(
            "dev stack start → healthy",
            result["second"],
            "s",
            "second run in the same clone (.venv there): Redis, worker, beat, Flower OK",
        ),
    ]
    grouped: dict[str, list[Memory]] = {}
    for m in mem:
        grouped.setdefault(m.label, []).append(m)
    for name, items in sorted(grouped.items(), key=lambda kv: -sum(m.pss for m in kv[1])):
        count = f"{len(items)} processes, " if len(items) > 1 else ""
        out.append(
            Row(
                f"dev stack PSS {name}",
                sum(m.pss for m in items) / 2**20,
                "MiB",
                f"{count}RSS {sum(m.rss for m in items) / 2**20:.0f} MiB",
            )
        )
    out.append(
        Row(
            "dev stack PSS total",
            total_pss / 2**20,
            "MiB",
            f"{len(mem)} processes, RSS {total_rss / 2**20:.0f} MiB, {settle:g} s after healthy; "
            f"goal ≤ {PSS_GOAL_MIB}: {'met' if total_pss / 2**20 <= PSS_GOAL_MIB else 'NOT met'}",
        )
    )
    return out
