"""The "no worker" banner in a real headless Chromium: it comes and goes live, no reload."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect, sync_playwright

from tests.support.processes import RedisServer, migrate, stack_env, start_daphne, start_worker

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
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
WORKER_COMMAND = "celery -A django_starter worker -l info"


@pytest.fixture
def page() -> Iterator[Page]:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: .ci/run installs it with apt-get")
        pytest.skip("Chromium is not installed: sudo apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        yield page
        browser.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


@pytest.fixture
def lonely_stack(tmp_path: Path) -> Iterator[tuple[dict[str, str], str]]:
    """A live Daphne on a private Redis that no worker listens on (yet)."""
    server = RedisServer().start()
    env = stack_env(redis_url=server.url, database_path=tmp_path / "db.sqlite3")
    migrate(env)
    daphne, base_url = start_daphne(env, log_dir=tmp_path)
    yield env, base_url
    daphne.stop()
    server.stop()


def test_the_banner_goes_when_a_worker_starts_and_comes_back_when_it_stops(
    page: Page, lonely_stack: tuple[dict[str, str], str], tmp_path: Path
) -> None:
    env, base_url = lonely_stack
    page.goto(base_url + "/")
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

    worker = start_worker(env, log_dir=tmp_path, concurrency=1)
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
