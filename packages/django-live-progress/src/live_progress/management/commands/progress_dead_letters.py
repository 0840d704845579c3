"""`python manage.py progress_dead_letters [--retry]`: the history records the database refused."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from live_progress.store import drain
from live_progress.store.client import get_redis


class Command(BaseCommand):
    help = (
        "List the task history records the database refused (each with its reason), or "
        "with --retry put them back for the history to write again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--retry", action="store_true", help="write them again (once the cause is fixed)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["retry"]:
            moved = drain.retry_dead_letters()
            try:
                while drain.drain() == drain.DRAIN_BATCH:
                    pass
            except Exception as error:
                raise CommandError(
                    f"Put back {moved} record(s), but they could not be written now ({error}); "
                    "they wait in Redis for the workers' next drain."
                ) from error
            again = drain.dead_letters()
            self.stdout.write(
                f"Retried {moved} record(s): {moved - min(again, moved)} written, "
                f"{again} still refused."
            )
            return
        texts = [str(text) for text in get_redis().lrange(drain.dead_key(), 0, -1)]
        self.stdout.write(f"{len(texts)} record(s) set aside.")
        for text in texts:
            letter = _parsed(text)
            self.stdout.write(f"{letter.get('at', '?')}  {letter.get('reason', '?')}")
            self.stdout.write(f"    {str(letter.get('record', ''))[:300]}")


def _parsed(text: str) -> dict[str, Any]:
    """A dead letter as its fields, or as its bare text when it is not one."""
    try:
        letter = json.loads(text)
    except ValueError:
        return {"record": text}
    return letter if isinstance(letter, dict) else {"record": text}
