"""Regenerate docs/page.png and docs/page-dark.png from a real run of the page.

    .venv/bin/python -m tests.support.screenshots

A private stack (redis-server, Daphne, one Celery worker) on free ports, headless
Chromium: a finished task and a cancelled one for the history, then a task and the group
demo running. Everything it started is stopped at the end.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page, expect

from tests.support.browser import chromium
from tests.support.processes import ROOT
from tests.support.stack import PrivateStack

DOCS = ROOT / "docs"
LONG = 'form.start[data-task="django_starter.tasks.long_running_task"]'


def stage(page: Page, base_url: str) -> None:
    """History first (one done, one cancelled), then two tasks caught mid-run."""
    page.goto(base_url + "/")
    form = page.locator(LONG)
    form.get_by_label("Steps").fill("12")
    form.get_by_role("button", name="Start Task").click()
    expect(page.locator('.task[data-state="SUCCESS"]')).to_have_count(1, timeout=60_000)
    form.get_by_label("Steps").fill("200")
    form.get_by_role("button", name="Start Task").click()
    running = page.locator('.task[data-state="PROGRESS"]')
    expect(running).to_have_count(1, timeout=60_000)
    running.get_by_role("button", name="Cancel").click()
    expect(page.locator('.task[data-state="REVOKED"]')).to_have_count(1)

    page.reload()
    form.get_by_label("Steps").fill("100")
    form.get_by_label("Delay").fill("0.2")
    form.get_by_role("button", name="Start Task").click()
    expect(page.locator('.task[data-state="PROGRESS"]')).to_have_count(1, timeout=60_000)
    page.get_by_role("button", name="Start parallel demo").click()
    # Mid-run: the group's first part done, the single task well under way.
    expect(page.locator('.child[data-state="SUCCESS"]')).to_have_count(1, timeout=60_000)
    page.mouse.move(0, 0)


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    DOCS.mkdir(exist_ok=True)
    with (
        tempfile.TemporaryDirectory(prefix="screenshots-") as logs,
        PrivateStack(Path(logs)) as stack,
        chromium() as browser,
    ):
        stack.start_worker(concurrency=2)
        context = browser.new_context(viewport={"width": 1100, "height": 900})
        page = context.new_page()
        stage(page, stack.base_url)
        page.emulate_media(color_scheme="light")
        page.screenshot(path=str(DOCS / "page.png"), full_page=True, animations="disabled")
        page.emulate_media(color_scheme="dark")
        page.screenshot(path=str(DOCS / "page-dark.png"), full_page=True, animations="disabled")
        print("wrote docs/page.png and docs/page-dark.png")
        context.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
