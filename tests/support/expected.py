"""What users and clients are promised, written out once for the tests.

Spelled out here on purpose, not imported from the code under test: a change to
the contract must show up as a failing test.
"""

from __future__ import annotations

# The command every "no worker" message, banner and doctor fix tells the user to run.
WORKER_COMMAND = "celery -A django_starter worker -l info"

# What GET /tasks/<id>/ and every WebSocket message carry (DESIGN.md, "Snapshot JSON").
LIVE_SNAPSHOT_FIELDS = frozenset(
    {
        "task_id",
        "name",
        "state",
        "current",
        "total",
        "percent",
        "message",
        "result",
        "error",
        "seq",
        "workers_online",
        "queue_position",
        "started_at",
        "updated_at",
        "finished_at",
        "children",
    }
)
# The same without the live queue facts (what the store keeps for a reader).
SNAPSHOT_FIELDS = LIVE_SNAPSHOT_FIELDS - {"workers_online", "queue_position"}

# The contract's time format: ISO 8601, UTC, microseconds.
TIMESTAMP_PATTERN = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(\+00:00|Z)$"
