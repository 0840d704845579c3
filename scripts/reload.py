"""Development reloads under supervisord (deploy/supervisord-dev.conf): when a project file
changes, restart what runs it.

A .py file of a project package restarts the Celery worker (Celery has no autoreload) and
the web server; a template restarts the web server only. runserver runs with --noreload:
its own reloader is a second process holding a second copy of Django (about 70 MB).
Imports nothing but watchfiles, so that this process stays small.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import watchfiles

ROOT = Path(__file__).resolve().parent.parent
CODE = (".py",)
TEMPLATES = (".html", ".txt", ".mo")


def programs_for(paths: set[str]) -> list[str]:
    """The supervisord programs that run the changed files: worker and web, or web alone."""
    if any(path.endswith(CODE) for path in paths):
        return ["worker", "web"]
    if any(path.endswith(TEMPLATES) for path in paths):
        return ["web"]
    return []


# Folders whose files never run in the stack (or change while it runs by itself).
IGNORED = {".git", ".venv", "__pycache__", "node_modules", "run", "logs", "tests", "bench", "docs"}


def watched(change: watchfiles.Change, path: str) -> bool:
    """A code or template file of the project, wherever it is, or a folder just made: an
    app or package added while the stack runs is watched from its first file on."""
    if IGNORED.intersection(Path(path).relative_to(ROOT).parts):
        return False
    # The files written into a new folder at once (`manage.py startapp`) come before the
    # watch on it does: the folder's own event stands for them (files_in).
    return path.endswith(CODE + TEMPLATES) or (
        change == watchfiles.Change.added and os.path.isdir(path)
    )


def files_in(paths: set[str]) -> set[str]:
    """The changed files, a new folder replaced by the code and template files in it."""
    files = {path for path in paths if not os.path.isdir(path)}
    for folder in paths - files:
        files.update(str(p) for p in Path(folder).rglob("*") if p.name.endswith(CODE + TEMPLATES))
    return files


def main() -> None:
    config = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "deploy" / "supervisord-dev.conf")
    supervisorctl = str(Path(sys.executable).parent / "supervisorctl")
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        for changes in watchfiles.watch(ROOT, watch_filter=watched):
            paths = files_in({path for _, path in changes})
            programs = programs_for(paths)
            if not programs:
                continue
            changed = sorted(str(Path(path).relative_to(ROOT)) for path in paths)
            what = "the worker and the web server" if "worker" in programs else "the web server"
            print(f"[reload] {', '.join(changed[:3])} changed: restarting {what}", flush=True)
            restart = [supervisorctl, "-c", config, "restart", *programs]
            subprocess.run(restart, stdout=subprocess.DEVNULL)
    except KeyboardInterrupt:  # supervisord stops it (SIGTERM): a quiet exit
        pass


if __name__ == "__main__":
    main()
