"""HTTP: the page, `POST /tasks/` and `GET /tasks/<task_id>/`."""

from __future__ import annotations

import json
import re

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.csrf import csrf_failure as default_csrf_failure
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from diagnostics.workers import workers_online

from . import services, store

NOT_FOUND = {"error": "No task with this id belongs to you."}
DEFAULT_STEPS = 100
MAX_STEPS = 1000


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """The page: Start Task, one bar per task of this owner."""
    owner = services.existing_owner(user=request.user, session=request.session)
    task_ids = store.recent_task_ids(owner=owner) if owner else []
    return render(
        request,
        "progress/index.html",
        {"task_ids": task_ids, "workers_online": workers_online()},
    )


@require_POST
def start_task(request: HttpRequest) -> JsonResponse:
    """Queue `long_running_task`; answers 202 at once, worker or not."""
    steps = read_steps(request)
    if isinstance(steps, JsonResponse):
        return steps
    owner = services.owner_for(user=request.user, session=request.session)
    try:
        data = services.task_start(owner=owner, steps=steps)
    except store.TooManyTasks as error:
        return JsonResponse({"error": str(error), "limit": error.limit}, status=429)
    task_id = data["task_id"]
    data["ws_url"] = f"/ws/progress/{task_id}/"
    data["status_url"] = reverse("progress:task-status", args=[task_id])
    return JsonResponse(data, status=202)


@require_GET
def task_status(request: HttpRequest, task_id: str) -> JsonResponse:
    """One task's snapshot; 404 for an unknown, malformed or foreign id."""
    owner = services.existing_owner(user=request.user, session=request.session)
    data = services.task_snapshot(task_id=task_id, owner=owner, is_staff=request.user.is_staff)
    if data is None:
        return JsonResponse(NOT_FOUND, status=404)
    return JsonResponse(data)


@require_POST
def cancel_task(request: HttpRequest, task_id: str) -> JsonResponse:
    """Cancel one of your tasks (queued or running); 404 for an unknown or foreign id."""
    owner = services.existing_owner(user=request.user, session=request.session)
    data = services.task_cancel(task_id=task_id, owner=owner, is_staff=request.user.is_staff)
    if data is None:
        return JsonResponse(NOT_FOUND, status=404)
    return JsonResponse(data)


def task_not_found(request: HttpRequest) -> JsonResponse:
    """Any other path under /tasks/: the same 404 JSON as an unknown task id."""
    return JsonResponse(NOT_FOUND, status=404)


def read_steps(request: HttpRequest) -> int | JsonResponse:
    """The optional `steps` of POST /tasks/ (form field or JSON), or a 400/413 answer."""
    try:
        if request.content_type == "application/json":
            body = json.loads(request.body or b"{}")
            value = body.get("steps", DEFAULT_STEPS) if isinstance(body, dict) else None
        else:
            value = request.POST.get("steps", DEFAULT_STEPS)
    except RequestDataTooBig:
        return JsonResponse({"error": "The request body is too large."}, status=413)
    except (ValueError, UnicodeDecodeError):
        return JsonResponse({"error": "The request body is not valid JSON."}, status=400)
    if isinstance(value, str) and re.fullmatch(r"\s*[0-9]{1,7}\s*", value):
        value = int(value)  # ASCII digits only: "²".isdigit() is true, int("²") fails
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_STEPS:
        return JsonResponse(
            {"error": f"steps must be a whole number from 1 to {MAX_STEPS}."}, status=400
        )
    return value


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals: JSON for the API, Django's own page for everything else."""
    if request.path.startswith("/tasks/") or "application/json" in request.headers.get(
        "Accept", ""
    ):
        return JsonResponse(
            {"error": f"CSRF check failed: {reason} Reload the page and try again."}, status=403
        )
    return default_csrf_failure(request, reason)
