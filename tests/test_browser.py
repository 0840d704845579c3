"""The page in a real headless Chromium: click Start Task, watch the bar fill to 100%."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.processes import Proc

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# The machine has no network beyond package registries: keep Chromium from phoning home.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed: sudo apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    page.screenshot(path=str(tmp_path / "page.png"))
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


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
