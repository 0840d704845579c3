"""Run and stop the stack's processes for the start scripts.

  stop PID...        stop processes and their descendants: TERM, then KILL after --timeout
  wait-exit PID      wait until a process is gone (supervisord after `shutdown`)
  autoreload -- CMD  run CMD (the Celery worker) and restart it when a project .py file changes

Celery has no autoreload of its own; this polls file times once a second, which needs
no extra package and costs nothing noticeable for a project of this size.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parent.parent


def stop(pids: list[int], timeout: float) -> None:
    """TERM each process, wait for it and its descendants, then KILL whatever is left."""
    tops, everyone = [], []
    for pid in pids:
        try:
            process = psutil.Process(pid)
            tops.append(process)
            everyone += [process, *process.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
    for process in tops:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.terminate()
    _, alive = psutil.wait_procs(everyone, timeout=timeout)
    for process in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    psutil.wait_procs(alive, timeout=5)


def source_files() -> Iterator[Path]:
    """The project's own Python files: every top-level package except tests."""
    for package in sorted(ROOT.iterdir()):
        if (package / "__init__.py").exists() and package.name != "tests":
            yield from package.rglob("*.py")


def snapshot() -> dict[Path, float]:
    """Modification times of the project's Python files."""
    times = {}
    for path in source_files():
        with contextlib.suppress(FileNotFoundError):
            times[path] = path.stat().st_mtime
    return times


def autoreload(command: list[str], stop_timeout: float) -> int:
    """Run `command`; restart it (warm shutdown first) when a project .py file changes."""
    stopping = False

    def request_stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    child = subprocess.Popen(command)
    seen = snapshot()
    reported = restarted = False
    while not stopping:
        time.sleep(1)
        if child.poll() is not None and not restarted:
            return child.returncode  # it failed to start: let the script say so and stop
        if child.poll() is not None and not reported:
            reported = True
            print(
                f"[autoreload] the worker exited (code {child.returncode}); it starts again "
                "on the next code change",
                flush=True,
            )
        now = snapshot()
        if now == seen:
            continue
        changed = sorted(
            {*now.keys() ^ seen.keys(), *(path for path in now if now[path] != seen.get(path))}
        )
        seen = now
        names = ", ".join(str(path.relative_to(ROOT)) for path in changed[:3])
        print(f"[autoreload] {names} changed: restarting the worker", flush=True)
        stop([child.pid], stop_timeout)
        child.wait()
        child = subprocess.Popen(command)
        reported, restarted = False, True
    stop([child.pid], stop_timeout)
    return child.wait()


def main(argv: list[str] | None = None) -> int:
    """Parse the sub-command and run it."""
    parser = argparse.ArgumentParser(prog="scripts/processes.py")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("stop")
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("pids", type=int, nargs="*")
    p = commands.add_parser("wait-exit")
    p.add_argument("--timeout", type=float, default=120)
    p.add_argument("pid", type=int)
    p = commands.add_parser("autoreload")
    p.add_argument("--stop-timeout", type=float, default=30)
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)

    if args.command == "stop":
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not abort it
        stop(args.pids, args.timeout)
    elif args.command == "wait-exit":
        deadline = time.monotonic() + args.timeout
        while psutil.pid_exists(args.pid):
            if time.monotonic() > deadline:
                print(f"process {args.pid} still runs after {args.timeout:.0f}s", file=sys.stderr)
                return 1
            time.sleep(0.2)
    elif args.command == "autoreload":
        return autoreload([part for part in args.cmd if part != "--"], args.stop_timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
