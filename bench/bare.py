"""Bare Celery for the throughput rows: the project's Celery settings, none of its code.

`celery -A bench.bare worker` with BENCH_BARE_CONFIG (JSON, Celery's lowercase names)
and no DJANGO_SETTINGS_MODULE: no Django, no progress signal handlers, no heartbeat.
"""

from __future__ import annotations

import json
import os

from celery import Celery

app = Celery("bare", fixups=[])
app.config_from_object(json.loads(os.environ.get("BENCH_BARE_CONFIG", "{}")))


@app.task(name="bench.noop")
def noop() -> None:
    """Nothing at all: what is left is Celery's own cost per task."""
