"""Housekeeping, sent daily by Celery beat: task history past retention and expired sessions go.

The schedule is a row of django-celery-beat (migrations/0001_schedule_housekeeping.py
creates it once): change its time, pause it or run it now in the admin, under
"Periodic tasks".
"""

from __future__ import annotations

import io

from celery import shared_task
from django.core.management import call_command

from live_progress.worker.recorder import progress

# (management command, what the task's message says while it runs)
STEPS = [
    ("purge_task_history", "Purging task history past its retention"),
    ("clearsessions", "Clearing expired sessions"),
]


@shared_task
def housekeeping() -> str:
    """Run each housekeeping command in turn; the result is what they printed."""
    printed = []
    for done, (command, message) in enumerate(STEPS):
        progress.set(done, total=len(STEPS), message=message)
        output = io.StringIO()
        call_command(command, stdout=output)
        printed.append(f"{command}: {output.getvalue().strip() or 'done'}")
    progress.set(len(STEPS), total=len(STEPS), message="Housekeeping done")
    return "\n".join(printed)
