"""HTTP: the page, `POST /tasks/`, `GET /tasks/`, `GET /tasks/<id>/` and cancel."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import NoReverseMatch, reverse
from django.views.csrf import csrf_failure as default_csrf_failure
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from live_progress import registry
from live_progress.celery_app import worker_command
from live_progress.conf import conf
from live_progress.exceptions import (
    BadBody,
    NoCeleryApp,
    NotStartable,
    QueueFull,
    TooManyTasks,
)
from live_progress.store.snapshot import Snapshot
from live_progress.web import owners, services
from live_progress.web.bodies import read_body
from live_progress.web.live import workers_online

NOT_FOUND = {"error": "No task with this id belongs to you."}


def _reader(request: HttpRequest) -> tuple[str | None, bool]:
    owner = owners.existing_owner(user=request.user, session=request.session)
    return owner, bool(request.user.is_staff)


@require_GET
@ensure_csrf_cookie
def index(request: HttpRequest) -> HttpResponse:
    """The page: a start control per listed task, one bar per task of this reader."""
    # The session gets its owner now, not on its first start: two starts sent at once
    # from a new page would otherwise each make an owner, and one task would be lost.
    owner = owners.owner_for(user=request.user, session=request.session)
    first_page = services.task_list(owner=owner, is_staff=False, everyone=False, page=1)
    starts = [
        # Each form's own ids: two tasks may both take `steps`.
        (entry, entry.form(auto_id=f"id_{entry.short_name}_%s") if entry.form else None)
        for entry in registry.listed()
    ]
    return render(
        request,
        "live_progress/index.html",
        {
            "starts": starts,
            "first_page": first_page,
            "workers_online": workers_online(),
            "worker_command": worker_command(),
            "title": conf.PROGRESS_PAGE_TITLE,
            "login_url": _url_or_none("login"),
            "logout_url": _url_or_none("logout"),
        },
    )


def _url_or_none(name: str) -> str | None:
    """The URL of `name` when the project routes it (Log in and Log out show only then)."""
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """/favicon.ico, which browsers ask for by themselves: the page's SVG icon."""
    # Temporary: the hashed name changes with the icon (and a 301 would be cached for good).
    return redirect(static("live_progress/favicon.svg"))


@require_http_methods(["GET", "POST"])
def tasks(request: HttpRequest) -> JsonResponse:
    """GET: the reader's tasks, newest first (`?page=`, staff `?all=1`). POST: start one."""
    if request.method == "POST":
        return start_task(request)
    owner, is_staff = _reader(request)
    try:
        page = int(request.GET.get("page", "1"))
    except ValueError:
        return JsonResponse({"error": "page must be a whole number."}, status=400)
    data = services.task_list(
        owner=owner, is_staff=is_staff, everyone=request.GET.get("all") == "1", page=page
    )
    return JsonResponse(data)


def start_task(request: HttpRequest) -> JsonResponse:
    """Start a listed task with validated arguments; answers 202 at once, worker or not."""
    try:
        body = read_body(request)
        entry = registry.find(_task_name(body))
        kwargs = entry.clean(_kwargs(body))
    except BadBody as error:
        return JsonResponse({"error": str(error)}, status=error.status)
    except NotStartable as error:
        return JsonResponse({"error": str(error)}, status=400)
    try:
        data = services.start(
            entry.signature(kwargs), owner=request, name=entry.name, kwargs=kwargs
        )
    except TooManyTasks as error:  # this owner's or this address's limit
        return JsonResponse({"error": str(error), "limit": error.limit}, status=429)
    except QueueFull as error:  # everyone's: the server is full, not this client
        return JsonResponse({"error": str(error), "limit": error.limit}, status=503)
    except NoCeleryApp as error:  # the project's wiring, not the client: nothing was sent
        return JsonResponse({"error": str(error)}, status=503)
    return JsonResponse(_with_urls(data), status=202)


def _task_name(body: dict[str, Any]) -> str | None:
    name = body.get("task")
    if name is None or name == "":
        return None
    if not isinstance(name, str):
        raise BadBody('"task" must be a task name (a string).')
    return name


def _kwargs(body: dict[str, Any]) -> dict[str, Any]:
    """`kwargs` (an object, or its JSON in a form field); else the body's other fields."""
    kwargs = body.get("kwargs")
    if kwargs is None:
        return {key: value for key, value in body.items() if key != "task"}
    if isinstance(kwargs, str):
        try:
            kwargs = json.loads(kwargs)
        except ValueError as error:
            raise BadBody('"kwargs" is not valid JSON.') from error
    if not isinstance(kwargs, dict):
        raise BadBody('"kwargs" must be an object, e.g. {"steps": 20}.')
    return kwargs


def _with_urls(data: Snapshot) -> dict[str, Any]:
    task_id = data["task_id"]
    return {
        **data,
        "ws_url": f"/ws/progress/{task_id}/",
        "status_url": reverse("live_progress:task-status", args=[task_id]),
    }


@require_GET
def task_status(request: HttpRequest, task_id: str) -> JsonResponse:
    """One task's snapshot; 404 for an unknown, malformed or foreign id."""
    owner, is_staff = _reader(request)
    data = services.snapshot(task_id=task_id, owner=owner, is_staff=is_staff)
    if data is None:
        return JsonResponse(NOT_FOUND, status=404)
    return JsonResponse(data)


@require_POST
def cancel_task(request: HttpRequest, task_id: str) -> JsonResponse:
    """Cancel one of your tasks (queued or running); 404 for an unknown or foreign id."""
    owner, is_staff = _reader(request)
    data = services.cancel(task_id=task_id, owner=owner, is_staff=is_staff)
    if data is None:
        return JsonResponse(NOT_FOUND, status=404)
    return JsonResponse(data)


def task_not_found(request: HttpRequest) -> JsonResponse:
    """Any other path under /tasks/: the same 404 JSON as an unknown task id."""
    return JsonResponse(NOT_FOUND, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF refusals: JSON for the API, Django's own page for everything else."""
    api = reverse("live_progress:tasks")  # wherever the project mounted the app
    if request.path.startswith(api) or "application/json" in request.headers.get("Accept", ""):
        return JsonResponse(
            {"error": f"CSRF check failed: {reason} Reload the page and try again."}, status=403
        )
    return default_csrf_failure(request, reason)
