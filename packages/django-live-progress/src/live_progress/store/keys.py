"""The store's Redis keys and channels, in one place: the Python and the Lua scripts use these."""

from __future__ import annotations

from typing import Final

# One hash per task: its snapshot (see snapshot.py) and private bookkeeping.
TASK_PREFIX: Final = "progress:task:"
# Every change of a task is published on this channel + its id.
EVENTS_PREFIX: Final = "progress:events:"
# Sorted sets by creation time: an owner's recent tasks (listed on the page, ended ones
# too), and the unfinished tasks of an owner, of a client address, and of everyone (the
# limits count these; a task leaves them in the step that ends it).
OWNER_PREFIX: Final = "progress:owner:"
ACTIVE_PREFIX: Final = "progress:active:"
ADDRESS_PREFIX: Final = "progress:address:"
UNFINISHED_KEY: Final = "progress:unfinished"
# One sorted set per queue: the tracked tasks waiting in it, in the order they were sent.
QUEUED_PREFIX: Final = "progress:queued:"
# Where an owner's tasks went (a session's, at its login): the new owner, for the history
# records that still carry the old one.
MOVED_PREFIX: Final = "progress:moved:"
# Counters the scripts keep as tasks start and end (see counts.py).
STARTED_KEY: Final = "progress:metrics:started"
ENDED_KEY: Final = "progress:metrics:ended"
WAITED_KEY: Final = "progress:metrics:waited"


def owner_key(owner: str) -> str:
    """The Redis key of an owner's index of recent task ids."""
    return f"{OWNER_PREFIX}{owner}"


def active_key(owner: str) -> str:
    """The Redis key of an owner's unfinished task ids (what their limit counts)."""
    return f"{ACTIVE_PREFIX}{owner}"


def address_key(address: str) -> str:
    """The Redis key of a client address's index of unfinished task ids."""
    return f"{ADDRESS_PREFIX}{address}"


def queued_key(queue: str) -> str:
    """The sorted set of the tracked tasks waiting in `queue`, oldest first."""
    return f"{QUEUED_PREFIX}{queue}"


def moved_key(owner: str) -> str:
    """The key naming the owner that `owner`'s tasks were given to, if they were."""
    return f"{MOVED_PREFIX}{owner}"
