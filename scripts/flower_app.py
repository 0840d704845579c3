"""The Celery app that Flower runs with under ./start_dev.sh: the project's Celery settings
read straight from the settings module, without starting Django.

`celery -A django_starter flower` sets Django up (every installed app, Daphne and Twisted
included) although Flower only reads the broker: about 50 MB more. Flower needs the same
broker, result backend and transport options as the workers (the visibility timeout
above all: a shorter one would make it hand running tasks out again), so it takes every
CELERY_* setting from DJANGO_SETTINGS_MODULE, exactly as django_starter/celery.py does.
Run from the project folder: `celery -A scripts.flower_app flower`.
"""

from __future__ import annotations

import os
from importlib import import_module

from celery import Celery

settings = import_module(os.environ.get("DJANGO_SETTINGS_MODULE") or "django_starter.settings")
# fixups=[]: no Django fix-up, which would set Django up once Flower imports its modules.
app = Celery("django_starter", fixups=[])
app.config_from_object(settings, namespace="CELERY")
