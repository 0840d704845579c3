"""Rows of results, percentiles, the plain-text table the benchmark prints, progress lines."""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Row:
    """One measured figure: metric, value, unit and a note on how it was taken."""

    metric: str
    value: float | int | str
    unit: str = ""
    notes: str = ""

    def shown_value(self) -> str:
        """The value as the table prints it."""
        if isinstance(self.value, float):
            return f"{self.value:.3g}" if abs(self.value) < 100 else f"{self.value:,.0f}"
        if isinstance(self.value, int):
            return f"{self.value:,}"
        return self.value


def percentile(samples: list[float], pct: float) -> float:
    """The nearest-rank percentile (`pct` in 0..100) of a non-empty sample."""
    ordered = sorted(samples)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    """Seconds to milliseconds."""
    return seconds * 1000


def latency_rows(name: str, seconds: list[float], notes: str) -> list[Row]:
    """p50 and p95 rows (in ms) of a list of durations in seconds."""
    return [
        Row(f"{name} p50", ms(percentile(seconds, 50)), "ms", notes),
        Row(f"{name} p95", ms(percentile(seconds, 95)), "ms", f"n={len(seconds)}"),
    ]


def render(rows: list[Row]) -> str:
    """The rows as an aligned plain-text table with a header line."""
    header = ("metric", "value", "unit", "notes")
    cells = [header] + [(row.metric, row.shown_value(), row.unit, row.notes) for row in rows]
    widths = [max(len(cell[i]) for cell in cells) for i in range(3)]
    lines = []
    for index, (metric, value, unit, notes) in enumerate(cells):
        lines.append(
            f"{metric:<{widths[0]}}  {value:>{widths[1]}}  {unit:<{widths[2]}}  {notes}".rstrip()
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths) + "  " + "-" * 5)
    return "\n".join(lines)


def step(name: str) -> None:
    """A progress line on stderr, with the time."""
    print(f"[{time.strftime('%H:%M:%S')}] {name}", file=sys.stderr, flush=True)
