"""ASGI entry point: HTTP goes to Django, WebSockets to the progress consumer.

Serve it with `daphne django_starter.asgi:application` (or `manage.py runserver`).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_starter.settings")
# Set Django up before importing anything that touches models.
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from progress.origins import OriginValidator  # noqa: E402
from progress.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The Origin must match scheme, host and port (Channels' own validator checks
        # only the host): see progress/origins.py.
        "websocket": OriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
