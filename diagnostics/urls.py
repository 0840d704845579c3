from __future__ import annotations

from django.urls import path

from . import views

app_name = "diagnostics"

urlpatterns = [
    path("health/", views.health, name="health"),
    path("health/workers/", views.workers, name="workers"),
]
