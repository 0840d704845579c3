"""GET /health/: Redis, workers and Flower at a glance; 503 when Redis does not answer."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from . import checks


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    report = checks.health_report()
    return JsonResponse(report, status=200 if report["redis"]["ok"] else 503)
