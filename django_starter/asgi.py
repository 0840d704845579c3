"""ASGI entry point: HTTP goes to Django, WebSockets to the progress consumer.

Serve it with `daphne django_starter.asgi:application` (or `manage.py runserver`).
"""

from __future__ import annotations

import gc
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_starter.settings")
# Set Django up before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from diagnostics.limits import raise_open_files_limit  # noqa: E402
from diagnostics.web_stats import start_web_stats  # noqa: E402
from live_progress.routing import websocket_urlpatterns  # noqa: E402

from .web_servers import lengthen_daphne_close_handshake  # noqa: E402

# One file descriptor per socket: the soft limit up to the hard one, a warning if too low.
raise_open_files_limit(getattr(settings, "DJANGO_WEB_MAX_SOCKETS", 10_000))
# A task's last state is sent before the close: Daphne must not drop it with the socket.
lengthen_daphne_close_handshake(settings.DJANGO_WS_CLOSE_TIMEOUT)
# Its socket counts, for GET /metrics whichever web process answers it.
start_web_stats()

# What start-up made lives as long as the process: keep it out of the cyclic collector,
# whose full passes over it (some 150-200 ms, collecting nothing) held every socket's
# fan-out up under load, and collect young objects less often.
gc.freeze()
gc.set_threshold(50_000, 20, 100)

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # Channels' usual composition; the routes check the Origin (scheme, host and port)
        # themselves: see live_progress/web/origins.py.
        "websocket": AuthMiddlewareStack(URLRouter(websocket_urlpatterns)),
    }
)
