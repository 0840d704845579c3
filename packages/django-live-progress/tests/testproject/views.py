"""A page of the project's own with one live bar on it, and nothing else."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def bar_page(request: HttpRequest, task_id: str) -> HttpResponse:
    return render(request, "testproject/bar.html", {"task_id": task_id})
