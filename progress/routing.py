"""WebSocket routes, mounted by django_starter/asgi.py."""

from __future__ import annotations

from django.urls import re_path

from .consumers import NotFoundConsumer, ProgressConsumer

websocket_urlpatterns = [
    re_path(r"^ws/progress/(?P<task_id>[^/]*)/$", ProgressConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),  # any other path: refused, not a traceback
]
