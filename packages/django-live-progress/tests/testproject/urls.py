"""The app under a prefix of the project's choosing (not the root), and a page of its own."""

from __future__ import annotations

from django.urls import include, path

from testproject import views

urlpatterns = [
    path("progress/", include("live_progress.urls")),
    path("bar/<str:task_id>/", views.bar_page),
]
