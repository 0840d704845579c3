"""`{% progress_bar task_id %}` on a page of one's own, brought to life by embed.js in Chromium."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from playwright.sync_api import Page, expect

from tests.support.processes import Proc

pytestmark = [pytest.mark.slow, pytest.mark.browser]


def test_the_template_tags_bar_follows_its_task_to_the_end(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    # Start a task as a view of the user's would, then put the tag's HTML on the page.
    started = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch("/tasks/", {
                method: "POST",
                headers: {"X-CSRFToken": token, "Content-Type": "application/json"},
                body: JSON.stringify({kwargs: {steps: 30, delay: 0.05}}),
            });
            return response.json();
        }"""
    )
    html = Template("{% load live_progress %}{% progress_bar task_id %}").render(
        Context({"task_id": started["task_id"]})
    )
    page.evaluate(
        "html => { const box = document.createElement('section'); box.id = 'embedded';"
        " box.innerHTML = html; document.body.prepend(box); }",
        html,
    )
    page.add_script_tag(url="/static/live_progress/embed.js", type="module")

    embedded = page.locator("#embedded .progress-embed")
    bar = embedded.locator("[role=progressbar]")
    expect(embedded).to_have_attribute("data-state", "PROGRESS", timeout=30_000)
    expect(bar).not_to_have_attribute("aria-valuenow", "0")
    expect(embedded).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(embedded.locator(".progress-embed-text")).to_contain_text("100%")
