"""The Content-Security-Policy (django-csp): on every response, and nothing it refuses on the
page, the log-in page or the admin in a real Chromium, a task's WebSocket included."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, WebSocket, expect

from tests.support.processes import Proc, create_user, stack_env

pytestmark = [pytest.mark.slow]

POLICY = {
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "connect-src 'self'",
    "frame-ancestors 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "object-src 'none'",
}
LONG = 'form.start[data-task="django_starter.tasks.long_running_task"]'


def policy(response: httpx.Response) -> set[str]:
    return {part.strip() for part in response.headers["Content-Security-Policy"].split(";")}


# (Not on DEBUG's own error pages: django-csp leaves those out, their styles are inline.)
@pytest.mark.parametrize("path", ["/", "/accounts/login/", "/admin/login/", "/tasks/", "/health/"])
def test_every_response_carries_the_policy(live_server_url: str, path: str) -> None:
    response = httpx.get(live_server_url + path, timeout=10)
    assert policy(response) == POLICY, path


def staff_user(database: Path, redis_url: str) -> tuple[str, str]:
    """A staff superuser in the live server's database; returns (username, password)."""
    return create_user(stack_env(redis_url=redis_url, database_path=database), superuser=True)


def refusals(page: Page) -> list[str]:
    """Everything the policy refuses on `page`, from now on and across navigations: each
    `securitypolicyviolation` event, and Chromium's console line about it."""
    found: list[str] = []
    page.expose_function("reportCspViolation", lambda line: found.append(str(line)))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (e) => window.reportCspViolation("
        "`${e.effectiveDirective} refused ${e.blockedURI} at ${e.sourceFile}:${e.lineNumber}`));"
    )

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            found.append(f"console: {message.text}")

    page.on("console", on_console)
    return found


@pytest.mark.browser
def test_page_login_and_admin_run_under_the_policy_with_nothing_refused(
    page: Page, live_server_url: str, worker: Proc, stack_database: Path, redis_url: str
) -> None:
    refused = refusals(page)
    sockets: list[str] = []
    frames: list[str] = []

    def on_websocket(ws: WebSocket) -> None:
        sockets.append(ws.url)
        ws.on("framereceived", lambda payload: frames.append(str(payload)))

    page.on("websocket", on_websocket)

    # The page: start a task and watch its bar to 100% over the WebSocket.
    page.goto(live_server_url + "/")
    form = page.locator(LONG)
    form.get_by_label("Steps").fill("20")
    form.get_by_role("button", name="Start Task").click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=60_000)
    expect(task.locator(".task-percent")).to_have_text("100%")
    assert task.locator(".bar-fill").evaluate("el => el.style.width") == "100%"
    assert [url for url in sockets if "/ws/progress/" in url], sockets
    assert any('"SUCCESS"' in frame for frame in frames)

    # The log-in page, then the admin as staff.
    username, password = staff_user(stack_database, redis_url)
    page.goto(live_server_url + "/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".who")).to_contain_text(username)
    for path in (
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/django_celery_beat/periodictask/add/",
    ):
        page.goto(live_server_url + path)
        expect(page.locator("#site-name")).to_be_visible()
    # django-celery-beat's own inline script ran (with its nonce): it hides this row.
    expect(page.locator(".field-crontab_translation")).to_be_hidden()
    expect(page.locator(".field-crontab")).to_be_visible()
    # The admin's own scripts ran: the theme toggle and the sidebar filter work.
    page.goto(live_server_url + "/admin/auth/user/")
    expect(page.locator("#nav-filter")).to_be_visible()
    page.locator("#nav-filter").fill("zzz-no-such-model")
    expect(page.locator("#nav-sidebar tr.model-user")).to_be_hidden()
    assert refused == []


@pytest.mark.browser
def test_an_inline_script_is_refused_and_reported(browser: Browser, live_server_url: str) -> None:
    """The control for the test above: the policy is enforced, and a refusal is seen."""
    context = browser.new_context()
    try:
        page = context.new_page()
        refused = refusals(page)
        page.goto(live_server_url + "/")
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = true'; document.body.append(s); }"
        )
        for _ in range(50):  # events reach Python while Playwright runs
            if refused:
                break
            page.wait_for_timeout(100)
        assert page.evaluate("() => window.injected") is None
        assert any("script-src" in line for line in refused), refused
    finally:
        context.close()
