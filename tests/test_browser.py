"""The page in a real headless Chromium: start a task, watch its card live until Done."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.support.browser import expect_http_error
from tests.support.processes import Proc

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LONG = 'form.start[data-task="django_starter.tasks.long_running_task"]'
PARALLEL = 'form.start[data-task="django_starter.tasks.parallel_demo"]'


def percent_figure(task: Locator) -> int:
    """The big "42%" on a card, as a number."""
    return int(task.locator(".task-percent").inner_text().rstrip("%"))


def test_start_task_shows_name_percent_elapsed_and_time_left_then_done_with_the_result(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    expect(page.locator("#no-worker")).to_be_hidden()
    page.get_by_role("button", name="Start Task").click()

    task = page.locator(".task").first
    expect(task.locator(".task-name")).to_have_text("Long running task")
    bar = task.get_by_role("progressbar", name="Long running task")
    expect(bar).to_have_attribute("aria-valuemin", "0")
    expect(bar).to_have_attribute("aria-valuemax", "100")
    # Running: a state word for people, the raw state for machines, a rising figure.
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    expect(task.locator(".task-state")).to_have_text("Running")
    expect(task.locator(".task-state")).to_have_attribute("title", "State: PROGRESS")
    expect(task.locator(".task-percent")).not_to_have_text("0%", timeout=10_000)
    first = percent_figure(task)
    expect(task.locator(".task-percent")).not_to_have_text(f"{first}%", timeout=10_000)
    assert percent_figure(task) > first
    expect(page).to_have_title(re.compile(r"^\d{1,3}% · Django Starter$"))
    expect(task.locator(".task-elapsed")).to_have_text(re.compile(r"^\d+ s$"))
    expect(task.locator(".task-eta")).to_have_text(re.compile(r"^(about \d+ s left|almost done)$"))
    expect(task.locator(".task-message")).to_have_text(re.compile(r"^Step \d+ of 100$"))

    # Done: full and green, the result as words and figures, the time it took.
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=30_000)
    expect(task.locator(".task-state")).to_have_text("Done")
    expect(task.locator(".task-live")).to_have_text("Long running task: Done")
    expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(task.locator(".task-percent")).to_have_text("100%")
    result = task.locator(".task-result")
    expect(result.locator("div", has_text="Steps")).to_contain_text("100")
    expect(result).to_contain_text("Seconds")
    assert "{" not in result.inner_text()
    expect(task.locator(".task-elapsed")).to_have_text(re.compile(r"^\d+ s$"))
    expect(task.locator(".task-eta")).to_be_hidden()
    expect(task.get_by_role("button", name="Cancel")).to_be_hidden()
    expect(page).to_have_title("Django Starter")
    assert task.locator(".bar-fill").evaluate("el => el.style.width") == "100%"


def test_the_form_refuses_a_bad_value_in_the_browser_and_shows_the_servers_reason(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    form = page.locator(LONG)
    steps = form.get_by_label("Steps")
    steps_error = form.locator('.field:has(input[name="steps"]) .field-error')
    steps.fill("5000")
    form.get_by_role("button", name="Start Task").click()
    expect(steps_error).to_contain_text("1000")
    expect(steps).to_have_attribute("aria-invalid", "true")
    expect(steps).to_have_accessible_description(re.compile("less than or equal to 1000"))
    expect(steps).to_be_focused()
    expect(page.locator(".task")).to_have_count(0)  # nothing was sent

    # Past the browser's check (its bound removed), the server says why in words.
    expect_http_error(page, "/tasks/", 400)
    steps.evaluate("input => input.removeAttribute('max')")
    steps.fill("5000")
    expect(steps_error).to_be_hidden()
    form.get_by_role("button", name="Start Task").click()
    expect(form.locator(".start-error")).to_contain_text("less than or equal to 1000")
    expect(page.locator(".task")).to_have_count(0)


def test_the_group_demo_shows_a_mini_bar_per_part_and_finishes(
    page: Page, live_server_url: str, worker: Proc
) -> None:
    page.goto(live_server_url + "/")
    form = page.locator(PARALLEL)
    form.get_by_label("Parts").fill("3")
    form.get_by_label("Steps").fill("15")
    form.get_by_role("button", name="Start parallel demo").click()

    task = page.locator(".task").first
    expect(task.locator(".task-name")).to_have_text("Parallel demo")
    children = task.locator(".task-children .child")
    expect(children).to_have_count(3)
    expect(children.get_by_role("progressbar")).to_have_count(3)
    expect(children.first.locator(".child-name")).to_have_text("Count part 1")
    # Parts move on their own bars while the whole runs...
    expect(task.locator('.child[data-state="PROGRESS"]').first).to_be_visible(timeout=20_000)
    # ...and the whole ends Done, every part full, with the chord's result.
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=60_000)
    expect(task.locator('.child[data-state="SUCCESS"]')).to_have_count(3)
    for bar in children.get_by_role("progressbar").all():
        expect(bar).to_have_attribute("aria-valuenow", "100")
    expect(task.locator(".task-result")).to_contain_text("Parts")
    expect(task.locator(".task-result")).to_contain_text("45")


def test_a_reload_mid_task_resumes_the_card(page: Page, live_server_url: str, worker: Proc) -> None:
    page.goto(live_server_url + "/")
    page.get_by_role("button", name="Start Task").click()
    started = page.locator(".task").first
    expect(started).to_have_attribute("data-state", "PROGRESS", timeout=20_000)
    task_id = started.get_attribute("data-task-id")

    page.reload()
    task = page.locator(f'.task[data-task-id="{task_id}"]')
    expect(task).to_have_count(1)
    expect(task.locator(".task-percent")).not_to_have_text("0%", timeout=10_000)
    expect(task.locator(".task-name")).to_have_text("Long running task")
    expect(task).to_have_attribute("data-state", "SUCCESS", timeout=40_000)
    expect(task.locator(".task-result")).to_contain_text("100")


def test_the_page_works_from_the_keyboard(page: Page, live_server_url: str, worker: Proc) -> None:
    page.goto(live_server_url + "/")
    steps = page.locator(LONG).get_by_label("Steps")
    steps.focus()
    steps.fill("300")
    page.keyboard.press("Enter")  # Enter in a field starts its task
    task = page.locator(".task").first
    expect(task).to_have_attribute("data-state", "PROGRESS", timeout=20_000)

    # Tab from the start buttons reaches the card's Cancel; Enter presses it.
    page.locator("#start-task").focus()
    cancel = task.get_by_role("button", name="Cancel")
    for _ in range(20):
        if cancel.evaluate("button => button === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(cancel).to_be_focused()
    page.keyboard.press("Enter")
    expect(task).to_have_attribute("data-state", "REVOKED")
