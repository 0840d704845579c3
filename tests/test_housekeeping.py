"""Housekeeping and Celery beat: the daily schedule, what the task deletes, and beat's heartbeat.

The last test runs it all for real: a private Redis and database, a worker, and
`celery -A django_starter beat` sending the housekeeping task from the database schedule;
`manage.py doctor` reports beat running, then gone once it stops.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.core.management import call_command, get_commands
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from django_starter.celery import app
from django_starter.housekeeping import housekeeping
from tests.support.processes import BIN, Proc, manage_shell, run_doctor, wait_for
from tests.support.stack import PrivateStack

needs_purge_command = pytest.mark.skipif(
    "purge_task_history" not in get_commands(),
    reason="the progress app's purge_task_history command is not there yet",
)


@pytest.mark.django_db(transaction=True)
def test_migrate_schedules_housekeeping_daily_in_the_database() -> None:
    # Migrated again here: a transactional test before this one may have emptied the table.
    call_command("migrate", "django_starter", "zero", verbosity=0)
    assert not PeriodicTask.objects.filter(name="Housekeeping").exists()
    call_command("migrate", "django_starter", verbosity=0)
    scheduled = PeriodicTask.objects.get(name="Housekeeping")
    assert scheduled.enabled
    assert scheduled.task == "django_starter.housekeeping.housekeeping"
    assert str(scheduled.crontab).startswith("30 3 * * *")
    app.loader.import_default_modules()
    assert scheduled.task in app.tasks


@needs_purge_command
@pytest.mark.django_db
def test_housekeeping_clears_expired_sessions_and_says_what_each_step_did() -> None:
    expired, live = SessionStore(), SessionStore()
    expired.set_expiry(timezone.now() - timedelta(days=1))
    expired.save()
    live.save()

    printed = housekeeping()  # a plain call: progress.set() does nothing outside a worker

    assert list(Session.objects.values_list("session_key", flat=True)) == [live.session_key]
    assert printed.splitlines()[0].startswith("purge_task_history: Deleted 0 finished task(s)")
    assert printed.splitlines()[1] == "clearsessions: done"


def shell(env: dict[str, str], code: str) -> None:
    """Run `code` in `manage.py shell` against the stack's database, as an admin would."""
    manage_shell(env, code)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A private Redis, a migrated SQLite file and a worker on them."""
    with PrivateStack(tmp_path) as stack:
        stack.start_worker()
        yield stack


@pytest.mark.slow
@needs_purge_command
def test_beat_sends_housekeeping_from_the_database_and_doctor_follows_beat(
    stack: PrivateStack,
) -> None:
    env = stack.env
    assert re.search(r"WARN\s+Beat\s+beat is not running \(never seen\)", run_doctor(env).stdout)
    # An expired session to clear, and the schedule made due every second (as in the admin).
    shell(
        env,
        "from datetime import timedelta; from django.utils import timezone; "
        "from django.contrib.sessions.backends.db import SessionStore; "
        "from django_celery_beat.models import IntervalSchedule, PeriodicTask; "
        "s = SessionStore(); s.set_expiry(timezone.now() - timedelta(days=1)); s.save(); "
        "every = IntervalSchedule.objects.create(every=1, period='seconds'); "
        "PeriodicTask.objects.filter(name='Housekeeping').update(crontab=None, interval=every)",
    )
    beat = Proc(
        "beat",
        [str(BIN / "celery"), "-A", "django_starter", "beat", "-l", "info"],
        env=env,
        log_dir=stack.logs,
    )
    try:
        database = sqlite3.connect(stack.logs / "db.sqlite3")

        def housekeeping_result() -> tuple[str, float, float] | None:
            row = database.execute(
                "SELECT result, current, total FROM live_progress_taskrun"
                " WHERE name = ? AND state = 'SUCCESS'",
                ("django_starter.housekeeping.housekeeping",),
            ).fetchone()
            return row if row else None

        # In the history like any task: its progress (one step per command), what they printed.
        result, current, total = wait_for(housekeeping_result, timeout=60, what="housekeeping")
        assert (current, total) == (2, 2)
        assert json.loads(result).startswith("purge_task_history: Deleted 0 finished task(s)")
        assert database.execute("SELECT count(*) FROM django_session").fetchone() == (0,)
        database.close()

        doctor = run_doctor(env)
        assert re.search(r"OK\s+Beat\s+beat runs on \S+ \(pid \d+\), last tick", doctor.stdout)
    finally:
        beat.stop()

    def beat_gone() -> str | None:
        out = run_doctor(env).stdout
        return out if "beat is not running (last tick" in out else None

    doctor_out = wait_for(beat_gone, timeout=30, interval=1, what="doctor to see beat gone")
    assert "fix: celery -A django_starter beat -l info" in doctor_out
