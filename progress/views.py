"""HTTP: the page, `POST /tasks/` and `GET /tasks/<task_id>/`."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_POST

from diagnostics.workers import workers_online

from . import services, store

NOT_FOUND = {"error": "No task with this id belongs to you."}


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
    owner = services.owner_for(user=request.user, session=request.session)
    data = services.task_start(owner=owner)
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
