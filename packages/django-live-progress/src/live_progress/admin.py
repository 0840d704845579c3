"""The task history in Django's admin: filter by state, name and owner; search by id or owner.

Owners are mostly anonymous browser sessions, one per visitor: a filter listing every
owner would be as long as the table (25,000 owners are a 4 MB page). The owner filter
lists the kinds of owner and the users, at most `OwnerFilter.USERS_LISTED` of them; any
owner at all is found by searching for it.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from live_progress.models import TaskRun

# Owners are "user:<pk>", "session:<token>" or "" (started outside the app): as ranges of
# the owner index, `user:` <= owner < `user;` (";" follows ":"), read without a full scan.
USERS = ("user:", "user;")
SESSIONS = ("session:", "session;")


class OwnerFilter(admin.SimpleListFilter):
    """Tasks of the users (each listed while there are few), of anonymous sessions, or
    of nobody (sent outside the app: staff only)."""

    title = "owner"
    parameter_name = "owner"
    USERS_LISTED = 50

    def lookups(
        self, request: HttpRequest, model_admin: admin.ModelAdmin[Any]
    ) -> list[tuple[str, str]]:
        owners = list(
            TaskRun.objects.filter(owner__gte=USERS[0], owner__lt=USERS[1])
            .order_by("owner")
            .values_list("owner", flat=True)
            .distinct()[: self.USERS_LISTED]
        )
        pks = [owner.removeprefix(USERS[0]) for owner in owners]
        names = dict(
            get_user_model()
            .objects.filter(pk__in=[pk for pk in pks if pk.isdigit()])
            .values_list("pk", "username")
        )
        listed = [
            (owner, f"User {names.get(int(pk), pk) if pk.isdigit() else pk}")
            for owner, pk in zip(owners, pks, strict=True)
        ]
        kinds = [("users", "Any user"), ("sessions", "Anonymous sessions"), ("none", "Nobody")]
        return [*kinds, *listed]

    def queryset(self, request: HttpRequest, queryset: QuerySet[TaskRun]) -> QuerySet[TaskRun]:
        value = self.value()
        if value is None:
            return queryset
        if value == "users":
            return queryset.filter(owner__gte=USERS[0], owner__lt=USERS[1])
        if value == "sessions":
            return queryset.filter(owner__gte=SESSIONS[0], owner__lt=SESSIONS[1])
        return queryset.filter(owner="" if value == "none" else value)


@admin.register(TaskRun)
class TaskRunAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-mostly list of tracked tasks, newest first."""

    list_display = ("task_id", "name", "state", "owner", "created_at", "finished_at")
    # A date filter of fixed choices: `date_hierarchy` would truncate every row's date to
    # list the months (most of a second for 50,000 rows on SQLite).
    list_filter = ("state", "name", OwnerFilter, "created_at")
    # An exact owner or task id is an index lookup; a name is matched in part.
    search_fields = ("task_id__exact", "owner__exact", "name")
    search_help_text = "A task id or an owner (user:<id>, session:<token>), or part of a name."
    list_per_page = 50
    show_full_result_count = False  # a filtered page counts once, not twice
    readonly_fields = tuple(field.name for field in TaskRun._meta.fields)
