"""The "no worker" banner in a real headless Chromium: it comes and goes live, no reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.support.expected import WORKER_COMMAND
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture
def lonely_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A live Daphne on a private Redis that no worker listens on (yet)."""
    with PrivateStack(tmp_path) as stack:
        yield stack


def test_the_banner_goes_when_a_worker_starts_and_comes_back_when_it_stops(
    lonely_stack: PrivateStack, page: Page
) -> None:
    # The stack first: it stops after the page has closed (no refused request at the end).
    page.goto(lonely_stack.base_url + "/")
    banner = page.locator("#no-worker")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text("No worker is running")
    expect(banner).to_contain_text(WORKER_COMMAND)

    page.get_by_role("button", name="Start Task").click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-state", "PENDING")
    expect(task.locator(".task-message")).to_have_text(
        f"Queued: no worker is running. Start one with: {WORKER_COMMAND}"
    )
    expect(task.locator(".task-state")).to_have_text("Queued")
    expect(task.locator(".task-elapsed")).to_have_text("not started")
    expect(task.locator(".task-eta")).to_have_text("estimating…")

    worker = lonely_stack.start_worker()
    try:
        expect(banner).to_be_hidden(timeout=10_000)  # the same page, no reload
        expect(page.locator("#workers-online span")).to_have_text("1")
        expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
        expect(task).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
    finally:
        worker.stop()
    # No task socket is open any more: the page's poll brings the banner back.
    expect(banner).to_be_visible(timeout=15_000)
    expect(page.locator("#workers-online span")).to_have_text("0")
