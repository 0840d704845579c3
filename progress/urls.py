from __future__ import annotations

from django.urls import path

from . import views

app_name = "progress"

urlpatterns = [
    path("", views.index, name="index"),
    path("tasks/", views.start_task, name="task-start"),
    path("tasks/<str:task_id>/", views.task_status, name="task-status"),
    path("tasks/<str:task_id>/cancel/", views.cancel_task, name="task-cancel"),
]
