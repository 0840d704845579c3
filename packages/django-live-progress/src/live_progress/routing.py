"""WebSocket routes: the project's asgi.py mounts `websocket_urlpatterns` (see the README)."""

from __future__ import annotations

from typing import Any

from django.urls import re_path

from live_progress.web.consumers import NotFoundConsumer, ProgressConsumer
from live_progress.web.origins import OriginValidator

# django-stubs types re_path() for HTTP views only; Channels routes ASGI apps with it too.
# The Origin check wraps the consumer itself, so it holds whatever middleware the project
# puts around these routes (or forgets to).
websocket_urlpatterns: list[Any] = [
    re_path(r"^ws/progress/(?P<task_id>[^/]*)/$", OriginValidator(ProgressConsumer.as_asgi())),
    re_path(r"", NotFoundConsumer.as_asgi()),  # type: ignore[arg-type]  # other paths: refused
]
