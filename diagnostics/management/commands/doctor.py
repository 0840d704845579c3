"""`python manage.py doctor`: every service, one line each, with the command that fixes it."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from diagnostics.checks import FAIL, OK, WARN, Check, run_checks

LABELS = {
    "redis": "Redis",
    "workers": "Workers",
    "queues": "Queues",
    "flower": "Flower",
    "database": "Database",
}


class Command(BaseCommand):
    help = (
        "Check Redis, the Celery workers, the queues, Flower and the database; print one "
        "line each (OK / WARN / FAIL) with the exact command that fixes a failure. "
        "Exits 1 when anything FAILs."
    )
    requires_system_checks = ()  # a broken service must not stop the diagnosis

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        checks = run_checks()
        failed = any(check.status == FAIL for check in checks)
        if options["json"]:
            report = {check.name: check.as_json() for check in checks}
            self.stdout.write(json.dumps({"ok": not failed, "checks": report}, indent=2))
        else:
            for check in checks:
                self.stdout.write(self.line(check))
            self.stdout.write(self.summary(checks))
        if failed:
            raise SystemExit(1)

    def line(self, check: Check) -> str:
        style = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}
        text = (
            f"{style[check.status](f'{check.status:<4}')}  {LABELS[check.name]:<9} {check.summary}"
        )
        if check.fix and check.status != OK:
            text += f"\n      {'':<9} fix: {self.style.SQL_FIELD(check.fix)}"
        return text

    def summary(self, checks: list[Check]) -> str:
        counts = {status: sum(c.status == status for c in checks) for status in (OK, WARN, FAIL)}
        words = f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)"
        return self.style.ERROR(words) if counts[FAIL] else self.style.SUCCESS(words)
