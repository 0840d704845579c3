"""GET /metrics around a sweep point: the socket-delay histogram's own p50/p99.

`starter_socket_delay_seconds` (diagnostics/metrics.py) counts, per change and socket,
the time from the store's script publishing the change (Redis's clock) to the web
process writing it to the socket, summed over the web processes (each writes its counts
to Redis every 5 s, hence the wait before the second scrape). The buckets of two scrapes
are differenced, and a quantile is read from them the way Prometheus's
histogram_quantile does: linear inside the bucket the rank falls in.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families

METRIC = "starter_socket_delay_seconds"
PUBLISH_WAIT = 6.0  # the web processes write their counts every 5 s


@dataclass
class Histogram:
    """Cumulative bucket counts by upper bound (seconds), with the sum and count."""

    buckets: dict[float, float]
    total: float = 0.0
    count: float = 0.0

    def minus(self, earlier: Histogram | None) -> Histogram:
        """This scrape less an earlier one (the counts of the window between them)."""
        if earlier is None:
            return self
        return Histogram(
            {le: n - earlier.buckets.get(le, 0.0) for le, n in self.buckets.items()},
            self.total - earlier.total,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float:
        """histogram_quantile(q): linear interpolation inside the rank's bucket, seconds."""
        bounds = sorted(self.buckets)
        if not bounds or self.buckets[bounds[-1]] <= 0:
            return math.nan
        rank = q * self.buckets[bounds[-1]]
        below, lower = 0.0, 0.0
        for index, le in enumerate(bounds):
            count = self.buckets[le]
            if count >= rank:
                if math.isinf(le):  # Prometheus answers the highest finite bound
                    return bounds[index - 1] if index else math.nan
                if count == below:
                    return le
                return lower + (le - lower) * (rank - below) / (count - below)
            below, lower = count, le
        return math.nan


def scrape(base_url: str) -> Histogram | None:
    """The histogram in GET /metrics summed over its label sets, or None if not there."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).raise_for_status().text
    found: Histogram | None = None
    for family in text_string_to_metric_families(text):
        if family.name != METRIC:
            continue
        found = found or Histogram({})
        for sample in family.samples:
            if sample.name == f"{METRIC}_bucket":
                le = float(sample.labels["le"])
                found.buckets[le] = found.buckets.get(le, 0.0) + sample.value
            elif sample.name == f"{METRIC}_sum":
                found.total += sample.value
            elif sample.name == f"{METRIC}_count":
                found.count += sample.value
    return found


def after(base_url: str, before: Histogram | None, messages: int) -> Histogram | None:
    """The point's own counts: scraped again until they reach the messages the clients got
    (every web process has written its counts since) or PUBLISH_WAIT has passed."""
    deadline = time.monotonic() + PUBLISH_WAIT
    while True:
        now = scrape(base_url)
        window = now.minus(before) if now is not None else None
        if time.monotonic() > deadline or (window is not None and window.count >= messages):
            return window
        time.sleep(0.5)
