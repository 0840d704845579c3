"""Every exception the app raises on purpose, in one place (as Django's tasks framework does)."""

from __future__ import annotations


class LiveProgressError(Exception):
    """Base class of the app's own exceptions."""


class Refused(LiveProgressError):
    """A change of a task's snapshot was not written; the subclass says why."""

    def __init__(self, task_id: str, reason: str) -> None:
        super().__init__(f"task {task_id}: {reason}")
        self.task_id = task_id


class TaskUnknown(Refused):
    """The task has no snapshot (never started here, expired or flushed) and none was made."""

    def __init__(self, task_id: str) -> None:
        super().__init__(task_id, "no snapshot")


class TaskEnded(Refused):
    """The task already reached a terminal state; `state` is that state."""

    def __init__(self, task_id: str, state: str) -> None:
        super().__init__(task_id, f"already ended ({state})")
        self.state = state


class TaskExists(LiveProgressError):
    """A snapshot with this id already exists (a start is never written twice)."""


class TooManyTasks(LiveProgressError):
    """The owner already has `limit` unfinished tasks."""

    def __init__(self, limit: int) -> None:
        plural = "s" if limit != 1 else ""
        super().__init__(
            f"You already have {limit} unfinished task{plural}, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again."
        )
        self.limit = limit


class TooManyTasksFromAddress(TooManyTasks):
    """The client's address already has `limit` unfinished tasks (whatever its sessions)."""

    def __init__(self, limit: int) -> None:
        super().__init__(limit)
        self.args = (
            f"Your address already has {limit} unfinished tasks, the most allowed at once. "
            "Wait for one to finish, or cancel one, then start again.",
        )


class QueueFull(LiveProgressError):
    """Everyone together already has `limit` unfinished tasks: the server takes no more."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            f"The server already has {limit} unfinished tasks, the most it takes at once. "
            "Try again in a few minutes."
        )
        self.limit = limit


class NotStartable(LiveProgressError):
    """The name is not one of PROGRESS_TASKS, or its arguments are invalid."""


class BadBody(LiveProgressError):
    """The body cannot be read; `status` is the HTTP answer (400, or 413 when too big)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class NoCeleryApp(LiveProgressError):
    """No Celery app is configured: Celery's default app would send tasks nowhere useful."""

    def __init__(self) -> None:
        super().__init__(
            "No Celery app is configured in this project, so the task was not sent. "
            "Create one as Celery's 'First steps with Django' shows (a celery.py that "
            "calls app.config_from_object('django.conf:settings', namespace='CELERY'), "
            "imported in your project's __init__.py)."
        )
