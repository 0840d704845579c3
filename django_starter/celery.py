"""The Celery app: `celery -A django_starter worker -l info` starts a worker."""

from __future__ import annotations

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_starter.settings")

app = Celery("django_starter")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Finds `tasks.py` in every installed app, and this project's own django_starter/tasks.py.
app.autodiscover_tasks()
app.autodiscover_tasks(["django_starter"])
app.autodiscover_tasks(["django_starter"], related_name="housekeeping")
