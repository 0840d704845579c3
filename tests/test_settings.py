"""Settings read from the environment: the time limits and the visibility timeout above them."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.support.processes import BIN, ROOT, free_port


def run(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    """A project command with exactly these DJANGO_*, CELERY_* and PROGRESS_* variables (no
    .env, no caller's)."""
    strip = ("DJANGO_", "CELERY_", "PROGRESS_", "WORKER_")
    base = {k: v for k, v in os.environ.items() if not k.startswith(strip)}
    base["REDIS_URL"] = f"redis://127.0.0.1:{free_port()}/0"  # nothing needs to answer
    return subprocess.run(
        argv, cwd=ROOT, env={**base, **env}, capture_output=True, text=True, timeout=60
    )


def setting(name: str, **env: str) -> str:
    code = f"from django.conf import settings; print(settings.{name})"
    result = run(sys.executable, "manage.py", "shell", "-c", code, **env)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


# The project's own choices, not defaults restated: its tasks, its live fields, its name.
CHOSEN = {"PROGRESS_TASKS", "PROGRESS_LIVE_FIELDS", "PROGRESS_PAGE_TITLE", "REDIS_URL"}


def test_the_progress_settings_read_from_the_environment_default_to_the_apps_own() -> None:
    """One value per setting: the project reads each from the environment, and with none set
    it is the app's default, the one the docs give (a changed default showed up nowhere)."""
    if (ROOT / ".env").exists():
        pytest.skip("this checkout's .env sets the project's settings (a clone has none)")
    code = (
        "import json; from django.conf import settings; from live_progress.conf import DEFAULTS; "
        "print(json.dumps({n: [getattr(settings, n), d] for n, d in DEFAULTS.items() "
        "if hasattr(settings, n)}))"
    )
    result = run(sys.executable, "manage.py", "shell", "-c", code)
    assert result.returncode == 0, result.stderr
    pairs = json.loads(result.stdout.strip().splitlines()[-1])
    assert len(pairs) >= 10, pairs  # the project does set most of them
    differ = {name: pair for name, pair in pairs.items() if pair[0] != pair[1]}
    assert set(differ) <= CHOSEN, differ  # [the project's, the app's]


def test_time_limits_default_to_ten_and_eleven_minutes_with_the_visibility_above() -> None:
    assert setting("CELERY_TASK_SOFT_TIME_LIMIT") == "600"
    assert setting("CELERY_TASK_TIME_LIMIT") == "660"
    assert setting("BROKER_VISIBILITY_TIMEOUT") == "720"
    # Raising the hard limit alone moves the default visibility timeout with it.
    assert setting("BROKER_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT="3600") == "3660"


def test_a_visibility_timeout_not_above_the_hard_limit_stops_every_process() -> None:
    bad = {"CELERY_TASK_TIME_LIMIT": "660", "CELERY_VISIBILITY_TIMEOUT": "300"}
    words = "CELERY_VISIBILITY_TIMEOUT (300 s) must be above CELERY_TASK_TIME_LIMIT (660 s)"
    check = run(sys.executable, "manage.py", "check", **bad)
    assert check.returncode != 0 and words in check.stderr
    # The worker runs no Django system checks: the settings themselves refuse.
    worker = run(str(BIN / "celery"), "-A", "django_starter", "worker", "-l", "info", **bad)
    assert worker.returncode != 0 and words in worker.stderr


def test_a_soft_limit_not_below_the_hard_one_is_refused() -> None:
    result = run(
        sys.executable,
        "manage.py",
        "check",
        CELERY_TASK_SOFT_TIME_LIMIT="700",
        CELERY_TASK_TIME_LIMIT="660",
    )
    assert result.returncode != 0
    assert "CELERY_TASK_SOFT_TIME_LIMIT (700 s) must be below" in result.stderr
