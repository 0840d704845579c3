"""What this web process's progress sockets did, for monitoring (read by the project's metrics)."""

from __future__ import annotations

import bisect
import time
from dataclasses import dataclass, field

# Upper bounds (seconds) of the delay histogram's buckets; the last bucket is +Inf.
DELAY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class Stats:
    """What this process's sockets did since it started, for monitoring: read, never set."""

    sockets: int = 0  # open sockets following a task
    sent: int = 0  # texts written to them
    skipped: int = 0  # texts a newer one replaced before a slow socket took them
    # Each change's delay from its publication in Redis to its write on a socket: counts
    # per DELAY_BUCKETS bucket (not cumulative, +Inf last) and their sum.
    delays: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    delay_sum: float = 0.0

    def sent_one(self, published_at: float | None) -> None:
        """A text went to a socket; `published_at` (Redis's clock) for a change, else None."""
        self.sent += 1
        if published_at is not None:
            delay = max(0.0, time.time() - published_at)
            self.delays[bisect.bisect_left(DELAY_BUCKETS, delay)] += 1
            self.delay_sum += delay


stats = Stats()
