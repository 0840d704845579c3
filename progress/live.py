"""The live part of a snapshot (workers online, queue position, why it waits), by hook.

The progress app does not know how a project counts workers or queues: the setting
PROGRESS_LIVE_FIELDS names a callable that does (this project: diagnostics.live).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.utils.module_loading import import_string

from .conf import conf
from .snapshot import Snapshot, Stored, public

LiveFields = Callable[[Stored], dict[str, Any]]


def _none(stored: Stored) -> dict[str, Any]:
    return {"workers_online": None, "queue_position": None}


@cache
def _hook(path: str | None) -> LiveFields:
    return import_string(path) if path else _none


def live_fields(stored: Stored) -> dict[str, Any]:
    """The project's live fields for this snapshot (none when no hook is set)."""
    return _hook(conf.PROGRESS_LIVE_FIELDS)(stored)


def workers_online() -> int | None:
    """How many workers are online, as the hook counts them (None without a hook)."""
    running: Stored = {"state": "STARTED"}  # type: ignore[typeddict-item]
    online = live_fields(running).get("workers_online")
    return int(online) if online is not None else None


def with_live_fields(stored: Stored) -> Snapshot:
    """The public snapshot with its live fields filled in."""
    data = public(stored)
    data.update(live_fields(stored))  # type: ignore[typeddict-item]
    return data
