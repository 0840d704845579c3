"""Bench-only URLs: the project's, plus celery-progress's polling view under /celery-progress/."""

from __future__ import annotations

from django.urls import include, path

from django_starter.urls import urlpatterns as project_urlpatterns

urlpatterns = [
    path("celery-progress/", include("celery_progress.urls")),
    *project_urlpatterns,
]
