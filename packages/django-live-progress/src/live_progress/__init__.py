"""Live task progress: `progress.set()` in any Celery task → Redis → Channels → the page.

from live_progress import progress
from live_progress import start
"""

from __future__ import annotations

from typing import Any


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import progress` (as Django loads the app) stays light
    # and touches no models before the app registry is ready.
    if name == "progress":
        from live_progress.worker.recorder import progress

        return progress
    if name == "start":
        from live_progress.web.services import start

        return start
    raise AttributeError(f"module 'progress' has no attribute {name!r}")
