"""live_progress/templatetags/live_progress.py: `{% progress_bar task_id %}` on any page."""

from __future__ import annotations

import re
import uuid

import pytest
from django.template import Context, Template
from django.test import Client, RequestFactory

TAG = "{% load live_progress %}"


def render(source: str, **context: object) -> str:
    return Template(TAG + source).render(Context(context))


def test_the_bar_names_its_task_and_the_api_under_the_projects_prefix() -> None:
    task_id = str(uuid.uuid4())
    html = render("{% progress_bar task_id %}", task_id=task_id)
    assert f'data-progress-task="{task_id}"' in html
    assert 'data-live-progress-api="/progress/tasks/"' in html


def test_the_bar_is_an_accessible_progressbar_at_zero() -> None:
    html = render("{% progress_bar 'x' label='Resizing photos' %}")
    [bar] = re.findall(r"<div class=\"bar\"[^>]*>", html)
    assert 'role="progressbar"' in bar
    assert 'aria-label="Resizing photos"' in bar
    assert 'aria-valuemin="0"' in bar
    assert 'aria-valuemax="100"' in bar
    assert 'aria-valuenow="0"' in bar


def test_the_bar_brings_its_stylesheet_and_script() -> None:
    html = render("{% progress_bar 'x' %}")
    assert '<link rel="stylesheet" href="/static/live_progress/bar.css">' in html
    assert '<script type="module" src="/static/live_progress/embed.js"></script>' in html


def test_many_bars_on_one_page_bring_the_assets_once() -> None:
    request = RequestFactory().get("/")
    html = render(
        "{% progress_bar 'a' %}{% progress_bar 'b' %}{% progress_bar 'c' %}", request=request
    )
    assert html.count("data-progress-task=") == 3
    assert html.count("bar.css") == 1
    assert html.count("embed.js") == 1


def test_each_request_gets_the_assets_again() -> None:
    for _ in range(2):
        html = render("{% progress_bar 'a' %}", request=RequestFactory().get("/"))
        assert html.count("embed.js") == 1


def test_the_task_id_and_label_are_escaped() -> None:
    html = render(
        "{% progress_bar task_id label=label %}",
        task_id='"><script>alert(1)</script>',
        label="<b>bold</b>",
    )
    assert "<script>alert(1)" not in html
    assert "<b>bold</b>" not in html
    assert "&lt;script&gt;" in html


@pytest.mark.django_db
def test_a_bare_page_of_the_project_with_two_bars_loads_the_script_once(client: Client) -> None:
    html = client.get(f"/bar/{uuid.uuid4()}/").content.decode()
    assert html.count('role="progressbar"') == 2
    assert html.count("embed.js") == 1
    assert html.count("bar.css") == 1
