"""URL map: the progress page and API, health, and the admin."""

from __future__ import annotations

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("progress.urls")),
    path("", include("diagnostics.urls")),
    path("admin/", admin.site.urls),
]
