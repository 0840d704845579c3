"""`python manage.py doctor`: every service, one line each, with the command that fixes it."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from diagnostics.checks import FAIL, OK, WARN, Check, run_checks

LABELS = {
    "redis": "Redis",
    "broker": "Broker",
    "workers": "Workers",
    "queues": "Queues",
    "flower": "Flower",
    "beat": "Beat",
    "tasks": "Tasks",
    "database": "Database",
}


class Command(BaseCommand):
    help = (
        "Check Redis, the Celery workers, the queues, Flower, Celery beat and the database; "
        "print one line each (OK / WARN / FAIL) with the exact command that fixes a failure. "
        "Exits 1 when anything FAILs."
    )
    requires_system_checks = ()  # a broken service must not stop the diagnosis

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="print the report as JSON")
        parser.add_argument(
            "--wait",
            type=float,
            metavar="SECONDS",
            help="check again until every check is OK, for up to SECONDS; then exit 1 unless "
            "all are OK (the start scripts' readiness test)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        checks = run_checks()
        if options["wait"] is not None:
            deadline = time.monotonic() + options["wait"]
            while not all_ok(checks) and time.monotonic() < deadline:
                time.sleep(0.5)
                checks = run_checks()
        failed = any(check.status == FAIL for check in checks)
        if options["wait"] is not None:
            failed = not all_ok(checks)
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
        """One check as the user reads it, with its fix on a second line unless it is OK."""
        style = {OK: self.style.SUCCESS, WARN: self.style.WARNING, FAIL: self.style.ERROR}
        text = (
            f"{style[check.status](f'{check.status:<4}')}  {LABELS[check.name]:<9} {check.summary}"
        )
        if check.fix and check.status != OK:
            text += f"\n      {'':<9} fix: {self.style.SQL_FIELD(check.fix)}"
        return text

    def summary(self, checks: list[Check]) -> str:
        """The counts, red when anything failed."""
        counts = {status: sum(c.status == status for c in checks) for status in (OK, WARN, FAIL)}
        words = f"{counts[OK]} ok, {counts[WARN]} warning(s), {counts[FAIL]} failure(s)"
        return self.style.ERROR(words) if counts[FAIL] else self.style.SUCCESS(words)


def all_ok(checks: list[Check]) -> bool:
    """True when every service check is OK (no warning either); a stalled task is no
    reason to call the stack not ready."""
    return all(check.status == OK for check in checks if check.name != "tasks")
