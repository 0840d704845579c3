"""A headless Chromium for the browser tests: found on PATH, kept off the network.

./run_tests.sh installs it with apt where it can (root or passwordless sudo). In CI (env CI
set) a missing Chromium fails the test; elsewhere it skips with the command that installs it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    Request,
    Response,
    sync_playwright,
)

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


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium; without one: fail in CI, skip (with the install command) locally."""
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is missing: sudo apt-get install chromium")
        pytest.skip("Chromium is not installed: sudo apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


# Failures a test expects (a 400 it provokes on purpose), per page: (url part, status).
_expected: dict[int, list[tuple[str, int]]] = {}


def expect_http_error(page: Page, url_part: str, status: int) -> None:
    """Let `page` get `status` from a URL containing `url_part` (checked_page allows it)."""
    _expected.setdefault(id(page), []).append((url_part, status))


def _is_expected(page: Page, url: str, status: int | None = None) -> bool:
    return any(
        part in url and (status is None or status == expected)
        for part, expected in _expected.get(id(page), [])
    )


@contextmanager
def checked_page(browser: Browser, screenshot: Path, **context_options: Any) -> Iterator[Page]:
    """A page in a fresh context; on the way out a screenshot, and no problem allowed:
    no JavaScript error, no console error, no failed request, no 4xx/5xx answer (but the
    ones a test announced with `expect_http_error`)."""
    context = browser.new_context(**context_options)
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        url = message.location.get("url", "")
        if message.type == "error" and not _is_expected(page, url):
            problems.append(f"console error: {message.text} ({url})")

    def on_response(response: Response) -> None:
        if response.status >= 400 and not _is_expected(page, response.url, response.status):
            problems.append(f"HTTP {response.status} for {response.request.method} {response.url}")

    def on_failed(request: Request) -> None:
        # A navigation (reload, log in) aborts what is still loading: not a failure.
        failure = request.failure or ""
        if "ERR_ABORTED" not in failure:
            problems.append(f"request failed: {request.method} {request.url} ({failure})")

    page.on("pageerror", lambda error: problems.append(f"JavaScript error: {error}"))
    page.on("console", on_console)
    page.on("response", on_response)
    page.on("requestfailed", on_failed)
    try:
        yield page
    finally:
        with contextlib.suppress(Exception):  # the page as it was, pass or fail
            page.screenshot(path=str(screenshot), full_page=True, animations="disabled")
        context.close()
        _expected.pop(id(page), None)
    assert problems == [], f"Problems on the page: {problems}"
