"""Bench-only ASGI app: the project's routes plus celery-progress's consumer at /ws/cp/<id>/.

`daphne bench.asgi:application` with DJANGO_SETTINGS_MODULE=bench.settings.
"""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django_asgi_app = get_asgi_application()

from celery_progress.websockets.consumers import (  # type: ignore[import-untyped]  # noqa: E402
    ProgressConsumer as CeleryProgressConsumer,
)
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import re_path  # noqa: E402

from live_progress.routing import websocket_urlpatterns  # noqa: E402
from live_progress.web.origins import OriginValidator  # noqa: E402

# The same garbage-collector tuning as django_starter/asgi.py.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

routes = [
    re_path(r"^ws/cp/(?P<task_id>[\w-]+)/?$", CeleryProgressConsumer.as_asgi()),
    *websocket_urlpatterns,
]
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(routes))),
    }
)
