"""Schedule housekeeping daily at 03:30 UTC: a django-celery-beat row, created once.

A migration runs once per database, so the row is the admin's afterwards: a schedule
changed, paused or deleted there stays that way (a schedule in the settings would be
written back each time beat starts).
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.utils import timezone

NAME = "Housekeeping"
TASK = "django_starter.housekeeping.housekeeping"


def schedule(apps: Any, schema_editor: Any) -> None:
    crontab = apps.get_model("django_celery_beat", "CrontabSchedule")
    periodic_task = apps.get_model("django_celery_beat", "PeriodicTask")
    daily, _ = crontab.objects.get_or_create(
        minute="30",
        hour="3",
        day_of_month="*",
        month_of_year="*",
        day_of_week="*",
        timezone="UTC",
    )
    periodic_task.objects.get_or_create(
        name=NAME,
        defaults={
            "task": TASK,
            "crontab": daily,
            "description": "Purges task history past its retention and expired sessions.",
        },
    )
    # A running beat re-reads its schedule when this timestamp changes.
    apps.get_model("django_celery_beat", "PeriodicTasks").objects.update_or_create(
        ident=1, defaults={"last_update": timezone.now()}
    )


def unschedule(apps: Any, schema_editor: Any) -> None:
    apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=NAME).delete()


class Migration(migrations.Migration):
    dependencies = [("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(schedule, unschedule)]
