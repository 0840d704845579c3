"""The page in a real headless Chromium: click Start Task, watch the bar fill to 100%."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support.processes import Proc

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_start_task_fills_the_bar_live_to_100(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    expect(page.locator("#no-worker")).to_be_hidden()
    page.get_by_role("button", name="Start Task").click()

    task = page.locator(".task").first
    bar = task.get_by_role("progressbar")
    # The bar moves while the task runs (live, not only at the end)...
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    expect(bar).not_to_have_attribute("aria-valuenow", "0", timeout=10_000)
    midway = int(bar.get_attribute("aria-valuenow") or 0)
    assert 0 < midway < 100
    # ...and ends full, green, with the result.
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(task.locator(".task-message")).to_contain_text('"steps":100')
    assert task.locator(".bar-fill").evaluate("el => el.style.width") == "100%"


def test_a_reload_shows_the_task_again_at_its_current_state(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    page.get_by_role("button", name="Start Task").click()
    task_id = page.locator(".task").first.get_attribute("data-task-id")
    page.reload()
    task = page.locator(f'.task[data-task-id="{task_id}"]')
    expect(task).to_have_count(1)
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
