"""`python manage.py purge_task_history`: delete finished tasks past their retention."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from live_progress.conf import conf
from live_progress.store import history


class Command(BaseCommand):
    help = "Delete finished task history rows older than PROGRESS_HISTORY_DAYS (30) days."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=float, default=None, help="keep this many days instead")

    def handle(self, *args: Any, **options: Any) -> None:
        days = options["days"] if options["days"] is not None else conf.PROGRESS_HISTORY_DAYS
        deleted = history.purge(days=days)
        self.stdout.write(f"Deleted {deleted} finished task(s) older than {days:g} days.")
