"""The page around the cards, in a real Chromium: history, log in, themes, narrow screens,
the favicon, and a card that polls when its WebSocket cannot be had."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.template import Context, Template
from playwright.sync_api import Browser, Locator, Page, WebSocketRoute, expect

from tests.support.browser import checked_page
from tests.support.processes import Proc, manage_shell, stack_env
from tests.support.stack import PrivateStack

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG = 'form.start[data-task="django_starter.tasks.long_running_task"]'
PARALLEL = 'form.start[data-task="django_starter.tasks.parallel_demo"]'
PASSWORD = "a-long-test-password-9"  # a throwaway user of the live database


def start_long_task(page: Page, *, steps: int, delay: float = 0.05) -> Locator:
    """Start long_running_task from its form; the new card."""
    form = page.locator(LONG)
    form.get_by_label("Steps").fill(str(steps))
    form.get_by_label("Delay").fill(str(delay))
    form.get_by_role("button", name="Start Task").click()
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-task-id", re.compile(".+"))
    return task


def live_database_shell(redis_url: str, database: Path, code: str) -> str:
    """Run Python in `manage.py shell` on the live server's database; its output."""
    env = stack_env(redis_url=redis_url, database_path=database)
    return manage_shell(env, code).strip()


def rgb(color: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", color)[:3])


def luminance(color: str) -> float:
    red, green, blue = rgb(color)
    return (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255


@pytest.fixture
def narrow_page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A phone-sized page (390 px wide) with the checks of `page`."""
    phone = {"width": 390, "height": 844}
    with checked_page(browser, tmp_path / "narrow.png", viewport=phone) as p:
        yield p


@pytest.fixture
def dark_page(browser: Browser, tmp_path: Path) -> Iterator[Page]:
    """A page whose system prefers the dark theme, with the checks of `page`."""
    with checked_page(browser, tmp_path / "dark.png", color_scheme="dark") as p:
        yield p


def test_a_finished_task_is_in_the_history_after_a_reload_even_once_redis_forgot_it(
    page: Page, live_server_url: str, worker: Proc, redis_url: str
) -> None:
    page.goto(live_server_url + "/")
    expect(page.locator("#history-empty")).to_be_visible()
    task = start_long_task(page, steps=5)
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    task_id = task.get_attribute("data-task-id")
    # Only this task's snapshot: the session's Redis is shared by every test.
    assert redis.Redis.from_url(redis_url).delete(f"progress:task:{task_id}") == 1

    page.reload()
    row = page.locator(f'.history-item[data-task-id="{task_id}"]')
    expect(row).to_be_visible()
    expect(row).to_have_attribute("data-state", "SUCCESS")
    expect(row.locator(".history-state")).to_have_text("Done")
    expect(row.locator(".history-name")).to_have_text("Long running task")
    expect(row.locator(".history-outcome")).to_contain_text("Steps 5")
    expect(row.locator(".history-took")).to_have_text(re.compile(r"^took (\d+ s|under 1 s)$"))
    expect(page.locator(".task")).to_have_count(0)
    expect(page.locator("#tasks-empty")).to_be_visible()
    expect(page.locator("#history-empty")).to_be_hidden()


def test_logging_in_brings_the_sessions_tasks_and_the_users_history_a_page_at_a_time(
    page: Page, live_server_url: str, worker: Proc, redis_url: str, stack_database: Path
) -> None:
    # A user with 22 finished tasks from before, made in the live server's database.
    username = f"ada-{uuid.uuid4().hex[:8]}"
    live_database_shell(
        redis_url,
        stack_database,
        "import uuid\n"
        "from datetime import timedelta\n"
        "from django.contrib.auth.models import User\n"
        "from django.utils import timezone\n"
        "from live_progress.models import TaskRun\n"
        f"user = User.objects.create_user('{username}', password='{PASSWORD}')\n"
        "old = timezone.now() - timedelta(days=1)\n"
        "for i in range(22):\n"
        "    TaskRun.objects.create(task_id=str(uuid.uuid4()), owner=f'user:{user.pk}',\n"
        "        name='django_starter.tasks.long_running_task', state='SUCCESS',\n"
        "        result={'steps': i + 1}, created_at=old - timedelta(minutes=i),\n"
        "        started_at=old - timedelta(minutes=i), finished_at=old - timedelta(minutes=i))\n",
    )
    page.goto(live_server_url + "/")
    expect(page.locator(".who")).to_contain_text("Anonymous session")
    task = start_long_task(page, steps=5)
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    task_id = task.get_attribute("data-task-id")

    page.get_by_role("link", name="Log in").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()

    expect(page).to_have_url(live_server_url + "/")
    expect(page.locator(".who")).to_contain_text(f"Signed in as {username}")
    history = page.locator(".history-item")
    # The session's task is now the user's, newest first, above the user's own.
    expect(history.first).to_have_attribute("data-task-id", task_id or "")
    expect(history).to_have_count(20)
    page.get_by_role("button", name="Show more").click()
    expect(history).to_have_count(23)
    expect(page.get_by_role("button", name="Show more")).to_be_hidden()
    expect(history.last.locator(".history-outcome")).to_have_text("Steps 22")

    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".who")).to_contain_text("Anonymous session")
    page.goto(live_server_url + "/")
    expect(page.locator(".history-item")).to_have_count(0)


def test_the_dark_theme_follows_the_system_setting(
    dark_page: Page, page: Page, live_server_url: str
) -> None:
    dark_page.goto(live_server_url + "/")
    page.goto(live_server_url + "/")
    background = "getComputedStyle(document.documentElement).backgroundColor"
    text = "getComputedStyle(document.body).color"
    assert luminance(dark_page.evaluate(background)) < 0.15
    assert luminance(dark_page.evaluate(text)) > 0.7
    assert luminance(page.evaluate(background)) > 0.85
    assert luminance(page.evaluate(text)) < 0.3


def test_a_390_pixel_screen_never_scrolls_sideways(
    narrow_page: Page, live_server_url: str, worker: Proc
) -> None:
    page = narrow_page
    page.goto(live_server_url + "/")
    page.locator(PARALLEL).get_by_role("button", name="Start parallel demo").click()
    task = start_long_task(page, steps=20, delay=0.1)
    expect(page.locator(".task .task-children .child")).to_have_count(4)
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    width = "document.documentElement.scrollWidth"
    assert page.evaluate(width) <= 390
    expect(page.locator('.task[data-state="SUCCESS"]')).to_have_count(2, timeout=60_000)
    assert page.evaluate(width) <= 390
    page.reload()  # the same tasks as history rows
    expect(page.locator(".history-item")).to_have_count(2)
    assert page.evaluate(width) <= 390


def test_the_favicon_answers_at_both_addresses(page: Page, live_server_url: str) -> None:
    page.goto(live_server_url + "/")
    icon = page.locator('link[rel="icon"]').get_attribute("href") or ""
    linked = page.request.get(live_server_url + icon)
    assert linked.ok and "svg" in linked.headers["content-type"]
    legacy = page.request.get(live_server_url + "/favicon.ico")  # follows the redirect
    assert legacy.ok and legacy.body() == linked.body()


def test_cancel_stops_a_running_task_and_says_so(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    task = start_long_task(page, steps=200, delay=0.1)
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    task.get_by_role("button", name="Cancel").click()
    expect(task).to_have_attribute("data-state", "REVOKED")
    expect(task.locator(".task-state")).to_have_text("Cancelled")
    expect(task.locator(".task-message")).to_have_text("Cancelled before it finished.")
    expect(task.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page).to_have_title("Django Starter")


@pytest.fixture
def failing_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A private stack whose page may also start a task that fails (from tests/taskapp)."""
    listed = "django_starter.tasks.long_running_task,tests.taskapp.tasks.failing_task"
    with PrivateStack(tmp_path, PROGRESS_TASKS=listed) as stack:
        stack.start_worker()
        yield stack


def test_a_failed_task_says_why_on_its_card_and_in_the_history(
    failing_stack: PrivateStack, page: Page
) -> None:
    page.goto(failing_stack.base_url + "/")
    page.get_by_role("button", name="Start failing task").click()
    task = page.locator(".task").first
    expect(task.locator(".task-name")).to_have_text("Failing task")
    expect(task).to_have_attribute("data-state", "FAILURE", timeout=30_000)
    expect(task.locator(".task-state")).to_have_text("Failed")
    expect(task.locator(".task-error")).to_have_text("ValueError: Something went wrong")
    task_id = task.get_attribute("data-task-id")

    page.reload()
    row = page.locator(f'.history-item[data-task-id="{task_id}"]')
    expect(row.locator(".history-state")).to_have_text("Failed")
    expect(row.locator(".history-outcome")).to_have_text("ValueError: Something went wrong")


def test_the_progress_bar_tag_follows_a_task_on_any_page(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    task_id = start_long_task(page, steps=20, delay=0.1).get_attribute("data-task-id")
    html = Template("{% load live_progress %}{% progress_bar task_id %}").render(
        Context({"task_id": task_id})
    )
    # Another page of the same site, the tag's markup in it, embed.js as the tag loads it.
    page.goto(live_server_url + "/accounts/login/")
    page.evaluate("html => { document.body.innerHTML = html; }", html)
    page.add_script_tag(url="/static/live_progress/embed.js", type="module")
    embed = page.locator(f'[data-progress-task="{task_id}"]')
    expect(embed).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(embed.get_by_role("progressbar")).to_have_attribute("aria-valuenow", "100")
    expect(embed.locator(".progress-embed-text")).to_have_text(re.compile(r"^Done · 100%"))


def refuse_sockets(page: Page, code: int) -> None:
    """Every task WebSocket of the page is closed at once with `code` (HTTP stays real)."""

    def close(socket: WebSocketRoute) -> None:
        socket.close(code=code, reason="closed by the test")

    page.route_web_socket(re.compile(r"/ws/progress/"), close)


@pytest.fixture
def one_socket_stack(tmp_path: Path) -> Iterator[PrivateStack]:
    """A private stack that lets each owner have a single open WebSocket."""
    with PrivateStack(tmp_path, PROGRESS_MAX_SOCKETS_PER_OWNER="1") as stack:
        stack.start_worker()
        yield stack


def test_a_card_refused_a_socket_with_4429_polls_and_still_finishes(
    one_socket_stack: PrivateStack, page: Page
) -> None:
    page.goto(one_socket_stack.base_url + "/")
    first = start_long_task(page, steps=40, delay=0.1)
    expect(first).to_have_attribute("data-link", "live")
    second = start_long_task(page, steps=5)  # one socket too many: the server closes it
    expect(second.locator(".task-link")).to_have_text(
        "Too many live connections open: this card checks every 2 s."
    )
    expect(second).to_have_attribute("data-link", "polling")
    expect(page.locator("#connection")).to_be_hidden()  # the server is fine: no banner
    expect(first).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
    expect(second).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
    expect(second.locator(".task-result")).to_contain_text("Steps")


def test_a_card_polls_while_its_socket_cannot_connect_and_says_so(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    refuse_sockets(page, 1011)
    page.goto(live_server_url + "/")
    task = start_long_task(page, steps=20, delay=0.1)
    expect(task.locator(".task-link")).to_have_text("Live connection lost: checking every 2 s.")
    expect(page.locator("#connection")).to_contain_text("Lost the live connection")
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
    expect(page.locator("#connection")).to_be_hidden()
