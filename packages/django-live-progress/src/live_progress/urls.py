from __future__ import annotations

from django.urls import path, re_path

from live_progress.web import views

app_name = "live_progress"

urlpatterns = [
    path("", views.index, name="index"),
    path("favicon.ico", views.favicon, name="favicon"),
    path("tasks/", views.tasks, name="tasks"),
    path("tasks/<str:task_id>/", views.task_status, name="task-status"),
    path("tasks/<str:task_id>/cancel/", views.cancel_task, name="task-cancel"),
    # Anything else under tasks/ is an unknown task: JSON 404, like a foreign id.
    re_path(r"^tasks/", views.task_not_found),
]
