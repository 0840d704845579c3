"""The project's Celery app as ./start_dev.sh runs it: one worker process that also runs beat
(`celery -A scripts.worker_app worker --beat`), and pool processes that share memory.

- `gc.freeze()` before the pool forks. A forked process shares its parent's memory until it
  writes to a page, and Python's garbage collector writes to every object it scans: the
  first full collection in a pool process copies most of the parent's heap (about 35 MB
  each). Frozen objects are never scanned, so they stay shared.
- Beat embedded (`--beat`), forked from the same frozen main process: it shares Django and
  Celery with the worker instead of loading a copy of its own (about 50 MB). The beat
  process ends when the worker's main process dies, even killed with SIGKILL (Linux: the
  kernel sends it SIGTERM; elsewhere a thread checks its parent every second), so a
  restarted worker never runs beside a second, orphaned beat.

Production (deploy/supervisord.conf) keeps beat a program of its own: exactly one per
deployment, whatever the number of workers.
"""

from __future__ import annotations

import ctypes
import gc
import os
import signal
import threading
import time
from typing import Any

from celery import signals

from django_starter.celery import app

__all__ = ["app"]

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_main_pid = os.getpid()


@signals.celeryd_after_setup.connect
def freeze_before_the_pool_forks(**_: Any) -> None:
    global _main_pid
    _main_pid = os.getpid()
    gc.collect()
    gc.freeze()


@signals.beat_embedded_init.connect
def end_with_the_worker(**_: Any) -> None:
    prctl = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)
    if prctl is not None:  # Linux
        prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    else:
        threading.Thread(target=_watch_the_parent, name="parent-watch", daemon=True).start()
    if os.getppid() != _main_pid:  # the worker died before this ran: end now
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_the_parent() -> None:
    while os.getppid() == _main_pid:
        time.sleep(1)
    os.kill(os.getpid(), signal.SIGTERM)
