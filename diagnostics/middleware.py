"""Turns "Redis is not answering" into a clear 503 JSON answer instead of a 500 page."""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from kombu.exceptions import OperationalError

from .checks import broker_is_redis

logger = logging.getLogger(__name__)

UNAVAILABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OperationalError)


class RedisUnavailableMiddleware:
    """Answers 503 with the error in words when Redis (or the broker) is down, naming which."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, UNAVAILABLE):
            return None
        logger.warning(
            "Redis or the broker unavailable during %s %s: %s",
            request.method,
            request.path,
            exception,
        )
        if isinstance(exception, OperationalError) and not broker_is_redis():
            error = "The task broker is not answering, so tasks cannot be started."
            fix = "Start the broker and check CELERY_BROKER_URL;"
        else:
            error = "Redis is not answering, so tasks can be neither started nor read."
            fix = "Start Redis (./start_dev.sh starts an embedded one) and check REDIS_URL;"
        return JsonResponse(
            {
                "error": f"{error} Try again in a moment.",
                "detail": str(exception) if settings.DEBUG else "service unavailable",
                "fix": f"{fix} `python manage.py doctor` shows every service.",
            },
            status=503,
        )
