"""`TaskRun`: the history of tracked tasks, kept in the database after Redis forgets them."""

from __future__ import annotations

from django.db import models

from live_progress.store.snapshot import STATES


class TaskRun(models.Model):
    """One tracked task: written when it is created and when it ends, never per step."""

    task_id = models.CharField(max_length=36, unique=True)
    # "user:<pk>", "session:<token>", or "" for a task started outside this app (staff only).
    owner = models.CharField(max_length=100, blank=True, db_index=True)
    name = models.CharField(max_length=200)
    kwargs_summary = models.CharField(max_length=300, blank=True)
    state = models.CharField(max_length=10, choices=[(s, s.title()) for s in STATES])
    current = models.FloatField(default=0)
    total = models.FloatField(default=100)
    message = models.CharField(max_length=500, blank=True)
    result = models.JSONField(null=True, blank=True)
    error = models.TextField(blank=True)
    children = models.JSONField(null=True, blank=True)
    seq = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at", "-id")
        indexes = (
            models.Index(fields=["owner", "-created_at"], name="taskrun_owner_newest"),
            # The admin's filter by name lists the distinct names: an index scan, no sort.
            models.Index(fields=["name"], name="taskrun_name"),
        )

    def __str__(self) -> str:
        return f"{self.name} {self.task_id} ({self.state})"
