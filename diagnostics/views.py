"""GET /health/ (every service; 503 without Redis or the broker) and GET /health/workers/."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from live_progress.store.workers import workers_online

from . import checks

# What anyone may see in production: each service's verdict and the worker count.
# Hosts, paths, versions and error texts are for staff (and for everyone under DEBUG).
PUBLIC_FIELDS = ("ok", "status", "online")


@require_GET
def health(request: HttpRequest) -> JsonResponse:
    """Redis, workers, queues, Flower and the database, each with its fix when it fails."""
    report = checks.health_report()
    # The task history's records still in Redis: counts anyone may see.
    history = report.get("database", {}).get("history") or {"waiting": None, "dead": None}
    if not (settings.DEBUG or request.user.is_staff):
        report = {name: _public(check) for name, check in report.items()}
    report["history"] = history
    # A broker other than that Redis (RabbitMQ) must answer too: without it nothing starts.
    up = report["redis"]["ok"] and report.get("broker", {"ok": True})["ok"]
    return JsonResponse(report, status=200 if up else 503)


@require_GET
def workers(request: HttpRequest) -> JsonResponse:
    """How many workers are online: one ZCOUNT, cheap enough for the page to poll."""
    return JsonResponse({"online": workers_online()})


def _public(check: dict[str, Any]) -> dict[str, Any]:
    return {field: check[field] for field in PUBLIC_FIELDS if field in check}
