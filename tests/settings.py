"""The project's settings plus a test app whose tasks are nobody's listed tasks."""

from __future__ import annotations

from django_starter.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]  # noqa: F405
