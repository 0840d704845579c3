from __future__ import annotations

from django.urls import path

from . import metrics, views

app_name = "diagnostics"

urlpatterns = [
    path("health/", views.health, name="health"),
    path("health/workers/", views.workers, name="workers"),
    path("metrics", metrics.metrics, name="metrics"),  # Prometheus's default path
]
