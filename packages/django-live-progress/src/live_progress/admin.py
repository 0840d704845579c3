"""The task history in Django's admin: filter by state, name and owner."""

from __future__ import annotations

from django.contrib import admin

from live_progress.models import TaskRun


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-mostly list of tracked tasks, newest first."""

    list_display = ("task_id", "name", "state", "owner", "created_at", "finished_at")
    list_filter = ("state", "name", "owner")
    search_fields = ("task_id", "name", "owner", "kwargs_summary")
    date_hierarchy = "created_at"
    readonly_fields = tuple(field.name for field in TaskRun._meta.fields)
