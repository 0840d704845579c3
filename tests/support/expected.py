"""What users and clients are promised, written out once for the tests.

Spelled out here on purpose, not imported from the code under test: a change to
the contract must show up as a failing test.
"""

from __future__ import annotations

# The command every "no worker" message, banner and doctor fix tells the user to run.
WORKER_COMMAND = "celery -A django_starter worker -l info"

# A task snapshot as store.public() returns it: no owner, no creation time.
SNAPSHOT_FIELDS = frozenset(
    {
        "task_id",
        "state",
        "current",
        "total",
        "percent",
        "message",
        "result",
        "error",
        "seq",
    }
)

# What GET /tasks/<id>/ and the WebSocket send: the snapshot plus the live queue facts.
LIVE_SNAPSHOT_FIELDS = SNAPSHOT_FIELDS | {"workers_online", "queue_position"}
