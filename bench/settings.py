"""Bench-only settings: the project (as the tests run it) plus celery-progress 0.5.

Used by the benchmark's Daphne and by the worker that runs celery-progress's tasks, so
both bars are served side by side in one run. The app itself never lists
celery_progress; `bench/requirements.txt` installs it for the benchmark alone.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "celery_progress"]  # noqa: F405
ROOT_URLCONF = "bench.urls"
# celery-progress's WebSocket recorder needs a channel layer; its README configures
# channels_redis' default layer. (The project's own sockets use no channel layer.)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": "bench:celery-progress"},  # noqa: F405
    }
}
