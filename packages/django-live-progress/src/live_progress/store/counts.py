"""How many tracked tasks started and ended, and how long they waited: kept by the store.

The scripts that write a task's change count it in the same step (lua.py), so a task
pays no extra round trip for them and every process reads the same numbers. A task
"starts" at its first state after PENDING (or when it is first heard of through
`progress.set`; a retried task starts again), "ends" at its terminal state, and "waited"
from `start()` to the first word of a worker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, cast

from live_progress.store.client import get_redis
from live_progress.store.keys import ENDED_KEY, STARTED_KEY, WAITED_KEY

# Upper bounds (seconds) of the "waited" histogram's buckets; the last one is +Inf.
WAITED_BUCKETS: Final = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


@dataclass
class Counts:
    """The deployment's counts, read at once."""

    started: dict[str, int] = field(default_factory=dict)  # task name -> starts
    ended: dict[tuple[str, str], int] = field(default_factory=dict)  # (name, state) -> ends
    waited: list[int] = field(default_factory=list)  # per bucket (not cumulative), +Inf last
    waited_sum: float = 0.0


def read() -> Counts:
    """The counts as they stand (one round trip)."""
    with get_redis().pipeline(transaction=False) as pipe:
        pipe.hgetall(STARTED_KEY)
        pipe.hgetall(ENDED_KEY)
        pipe.hgetall(WAITED_KEY)
        started, ended, waited = cast("list[dict[str, str]]", pipe.execute())
    counts = Counts(started={name: int(n) for name, n in started.items()})
    for key, n in ended.items():
        state, _, name = key.partition(" ")
        counts.ended[(name, state)] = int(n)
    counts.waited = [int(waited.get(str(i), 0)) for i in range(len(WAITED_BUCKETS) + 1)]
    counts.waited_sum = float(waited.get("sum", 0))
    return counts
