"""Live task progress: `progress.set()` in any Celery task → Redis → Channels → the page.

from live_progress import progress         # inside a task: progress.set(i, total=n)
from live_progress import start            # in a view: start(signature, owner=request)
from live_progress import progress_form    # @progress_form(MyForm): a task's arguments
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["progress", "progress_form", "start"]

if TYPE_CHECKING:
    from live_progress.registry import progress_form as progress_form
    from live_progress.web.services import start as start
    from live_progress.worker.recorder import progress as progress


def __getattr__(name: str) -> Any:
    # Imported on first use, so that `import live_progress` (as Django loads the app) stays
    # light and touches no models before the app registry is ready.
    if name == "progress":
        from live_progress.worker.recorder import progress

        return progress
    if name == "start":
        from live_progress.web.services import start

        return start
    if name == "progress_form":
        from live_progress.registry import progress_form

        return progress_form
    raise AttributeError(f"module 'live_progress' has no attribute {name!r}")
