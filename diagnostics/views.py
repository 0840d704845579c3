"""GET /health/ (every service, 503 when Redis does not answer) and GET /health/workers/."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from . import checks
from .workers import workers_online


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Redis, workers, queues, Flower and the database, each with its fix when it fails."""
    report = checks.health_report()
    return JsonResponse(report, status=200 if report["redis"]["ok"] else 503)


@require_GET
def workers(request: HttpRequest) -> JsonResponse:
    """How many workers are online: one ZCOUNT, cheap enough for the page to poll."""
    return JsonResponse({"online": workers_online()})
