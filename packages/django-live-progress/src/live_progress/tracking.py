"""Which tasks are tracked: those sent by `progress.start` carry a message header saying so.

A worker then knows from the message alone, with no Redis round trip, whether a task
has a snapshot to keep up to date; tasks without the header are left alone until they
call `progress.set()`. Both processes use it: the web process sets the header
(`web.services.start`), the worker reads it (`worker.lifecycle`, `worker.recorder`).
"""

from __future__ import annotations

from typing import Any, Final, TypedDict, cast

HEADER: Final = "progress"


class Tracking(TypedDict, total=False):
    """The header's value: the group a subtask belongs to, or that this is its callback."""

    parent: str
    callback: bool


def tracking(request: Any) -> Tracking | None:
    """The tracking header of a task's request (or message headers), None if untracked."""
    if request is None:
        return None
    value = request.get(HEADER) if isinstance(request, dict) else getattr(request, HEADER, None)
    return cast(Tracking, value) if isinstance(value, dict) else None


def headers(options: dict[str, Any], value: Tracking) -> dict[str, Any]:
    """A signature's headers with the tracking header added (its own headers kept)."""
    return {**(options.get("headers") or {}), HEADER: dict(value)}
