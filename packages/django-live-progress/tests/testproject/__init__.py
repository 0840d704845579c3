"""A bare Django project wired as the package's README says, for the package's own tests."""

from __future__ import annotations

# Celery's "First steps with Django": the app is loaded whenever Django is.
from testproject.celery import app as celery_app

__all__ = ("celery_app",)
