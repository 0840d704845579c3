from __future__ import annotations

from django.apps import AppConfig


class TaskAppConfig(AppConfig):
    """A user's own app: tasks that report progress without being listed anywhere."""

    name = "tests.taskapp"
    label = "taskapp"
