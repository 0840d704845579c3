"""The project's settings plus a test app whose tasks are nobody's listed tasks."""

from __future__ import annotations

from django_starter.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.taskapp"]  # noqa: F405

# Django's test Client.login() authenticates without a request, which django-axes' backend
# refuses (a ValueError): here the password is checked first, so a right one logs in before
# axes is asked. Wrong passwords still count. The lockout itself, right password refused, is
# tested on the project's own settings (tests/test_login_throttle.py).
AUTHENTICATION_BACKENDS = [*reversed(AUTHENTICATION_BACKENDS)]  # noqa: F405
