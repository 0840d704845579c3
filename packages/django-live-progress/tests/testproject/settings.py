"""Settings of the test project: the five documented steps on top of Django's minimum.

Redis and the database of the live processes come from the environment, which the
tests' conftest.py sets before Django reads this module.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REDIS_URL = os.environ.get("TEST_PROJECT_REDIS_URL", "redis://127.0.0.1:6379/15")

SECRET_KEY = "django-insecure-live-progress-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "testserver"]
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "live_progress",
    "testproject",  # its tasks.py and templates
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
]
ROOT_URLCONF = "testproject.urls"
ASGI_APPLICATION = "testproject.asgi.application"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
            ]
        },
    }
]
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "TEST_PROJECT_DATABASE", str(Path(tempfile.gettempdir()) / "live-progress-tests.db")
        ),
    }
}
STATIC_URL = "/static/"

CELERY_BROKER_URL = REDIS_URL
PROGRESS_REDIS_URL = REDIS_URL
PROGRESS_TASKS = ["testproject.tasks.count", "testproject.tasks.wait"]
