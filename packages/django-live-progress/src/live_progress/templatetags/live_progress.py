"""`{% load live_progress %}{% progress_bar task_id %}`: a live bar for one task on any page."""

from __future__ import annotations

from typing import Any

from django import template
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

# Set on the request once a bar has brought its stylesheet and script along.
_ASSETS_SENT = "_live_progress_assets_sent"


def _assets(context: template.Context) -> SafeString:
    """The bar's stylesheet and script, the first time on a page only."""
    request: Any = context.get("request")
    if request is not None:
        if getattr(request, _ASSETS_SENT, False):
            return mark_safe("")
        setattr(request, _ASSETS_SENT, True)
    return format_html(
        '<link rel="stylesheet" href="{}"><script type="module" src="{}"></script>',
        static("live_progress/bar.css"),
        static("live_progress/embed.js"),
    )


@register.simple_tag(takes_context=True)
def progress_bar(context: template.Context, task_id: str, label: str = "Task progress") -> str:
    """An accessible bar that live_progress/embed.js follows over the task's WebSocket.

    It brings its own small stylesheet (scoped to the bar) and script, once per page
    however many bars it has, so nothing else is needed on the page.
    """
    return format_html(
        '<div class="progress-embed" data-progress-task="{}" data-live-progress-api="{}">'
        '<div class="bar" role="progressbar" aria-label="{}" aria-valuemin="0" '
        'aria-valuemax="100" aria-valuenow="0"><div class="bar-fill"></div></div>'
        '<span class="progress-embed-text" aria-live="polite">Waiting for the task…</span>'
        "</div>{}",
        task_id,
        reverse("live_progress:tasks"),
        label,
        _assets(context),
    )
