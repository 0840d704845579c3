"""Bench-only ASGI app: the project's routes plus celery-progress's consumer at /ws/cp/<id>/.

`daphne bench.asgi:application` with DJANGO_SETTINGS_MODULE=bench.settings (also served
by Uvicorn and Granian in the servers section). Start-up does what django_starter/asgi.py
does, so every server of the benchmark runs the project as deployed.
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
from django.conf import settings  # noqa: E402
from django.urls import re_path  # noqa: E402

from diagnostics.limits import raise_open_files_limit  # noqa: E402
from diagnostics.web_stats import start_web_stats  # noqa: E402
from django_starter.web_servers import lengthen_daphne_close_handshake  # noqa: E402
from live_progress.routing import websocket_urlpatterns  # noqa: E402
from live_progress.web.origins import OriginValidator  # noqa: E402

# The same start-up as django_starter/asgi.py: open files, Daphne's close handshake,
# socket counts for /metrics, the garbage-collector tuning.
raise_open_files_limit(getattr(settings, "DJANGO_WEB_MAX_SOCKETS", 10_000))
lengthen_daphne_close_handshake(settings.DJANGO_WS_CLOSE_TIMEOUT)
start_web_stats()
gc.freeze()
gc.set_threshold(50_000, 20, 100)

routes = [
    re_path(r"^ws/cp/(?P<task_id>[\w-]+)/?$", OriginValidator(CeleryProgressConsumer.as_asgi())),
    *websocket_urlpatterns,
]
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # As django_starter/asgi.py: each route checks its Origin itself.
        "websocket": AuthMiddlewareStack(URLRouter(routes)),
    }
)
