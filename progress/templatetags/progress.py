"""`{% progress_bar task_id %}`: a live progress bar for one task on any page."""

from __future__ import annotations

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

register = template.Library()


@register.simple_tag
def progress_bar(task_id: str, label: str = "Task progress") -> str:
    """An accessible bar that progress/embed.js follows over the task's WebSocket."""
    return format_html(
        '<div class="progress-embed" data-progress-task="{}">'
        '<div class="bar" role="progressbar" aria-label="{}" aria-valuemin="0" '
        'aria-valuemax="100" aria-valuenow="0"><div class="bar-fill"></div></div>'
        '<span class="progress-embed-text" aria-live="polite">Waiting for the task…</span>'
        "</div>"
        '<script type="module" src="{}"></script>',
        task_id,
        label,
        static("progress/embed.js"),
    )
