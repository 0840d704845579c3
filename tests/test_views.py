"""HTTP views with Django's test client against the real Redis (no worker needed)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client

from django_starter.celery import app as celery_app
from live_progress.models import TaskRun
from live_progress.store import history
from live_progress.store.client import get_redis
from live_progress.store.drain import DRAIN_BATCH
from live_progress.store.snapshots import UNFINISHED_KEY, key
from live_progress.web.owners import SESSION_OWNER_KEY
from tests.support.expected import LIVE_SNAPSHOT_FIELDS, TIMESTAMP_PATTERN

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def purge_started_tasks() -> Iterator[None]:
    """These tests queue real tasks; drop them so that no later worker spends time on them."""
    celery_app.control.purge()
    yield
    celery_app.control.purge()


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


def post(client: Client, body: dict[str, Any] | None = None, **extra: Any) -> Any:
    """POST /tasks/ as the page does (JSON, CSRF header)."""
    if "csrftoken" not in client.cookies:
        client.get("/")
    token = client.cookies["csrftoken"].value
    return client.post(
        "/tasks/", body or {}, content_type="application/json", headers={"X-CSRFToken": token}
    )


def start(client: Client, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = post(client, body)
    assert response.status_code == 202, response.content
    return dict(response.json())


def queued_messages() -> int:
    """Messages waiting in the broker's default queue (the test Redis is the broker)."""
    return int(get_redis().llen("celery"))


def row(task_id: str) -> TaskRun:
    """The task's history row, as the history reads it (waiting records written first)."""
    run = history.find(task_id)
    assert run is not None, f"task {task_id} has no history row"
    return run


def write_waiting_rows() -> None:
    """Every waiting history record written (earlier tests' starts leave many)."""
    while history.drain() == DRAIN_BATCH:
        pass


def test_page_has_the_start_button_first_and_a_control_per_listed_task(client: Client) -> None:
    html = client.get("/").content.decode()
    assert html.index("Start Task") < html.index("Parallel demo")
    assert 'data-task="django_starter.tasks.long_running_task"' in html
    assert 'data-task="django_starter.tasks.parallel_demo"' in html
    # The task's own form: the browser checks the same bounds as the server.
    assert re.search(r'name="steps"[^>]*max="1000"|max="1000"[^>]*name="steps"', html)
    assert "https://" not in html and "http://" not in html


def test_start_answers_202_with_the_contract_fields(client: Client) -> None:
    data = start(client)
    assert set(data) == LIVE_SNAPSHOT_FIELDS | {"ws_url", "status_url"}
    assert data["state"] == "PENDING"
    assert data["name"] == "django_starter.tasks.long_running_task"
    assert data["ws_url"] == f"/ws/progress/{data['task_id']}/"
    assert data["status_url"] == f"/tasks/{data['task_id']}/"
    assert re.match(TIMESTAMP_PATTERN, data["updated_at"])
    assert data["started_at"] is None and data["finished_at"] is None
    assert data["children"] is None
    assert isinstance(data["workers_online"], int)


def test_a_bare_steps_still_works_as_a_form_post(client: Client) -> None:
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/tasks/", {"steps": "7"}, headers={"X-CSRFToken": token})
    assert response.status_code == 202
    run = row(response.json()["task_id"])
    assert run.kwargs_summary == '{"steps": 7}'


def test_a_listed_task_starts_by_name_with_its_kwargs(client: Client) -> None:
    before = queued_messages()
    data = start(client, {"task": "long_running_task", "kwargs": {"steps": 3, "delay": 0.5}})
    assert data["name"] == "django_starter.tasks.long_running_task"
    assert queued_messages() == before + 1
    run = row(data["task_id"])
    assert run.state == "PENDING" and run.kwargs_summary == '{"delay": 0.5, "steps": 3}'


def test_parallel_demo_is_one_task_listing_its_children(client: Client) -> None:
    data = start(client, {"task": "parallel_demo", "kwargs": {"parts": 3, "steps": 2}})
    assert data["name"] == "django_starter.tasks.parallel_demo"
    children = data["children"]
    assert [child["state"] for child in children] == ["PENDING"] * 3
    assert len({child["task_id"] for child in children} | {data["task_id"]}) == 4
    assert queued_messages() == 3  # the subtasks; the callback is sent when they are done


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"task": "os.system"}, "No task named 'os.system'"),
        ({"task": "tests.taskapp.tasks.add"}, "can be started here"),
        ({"task": 42}, '"task" must be a task name'),
        ({"kwargs": {"steps": 0}}, "steps: Ensure this value is greater than or equal to 1"),
        ({"kwargs": {"steps": 1001}}, "less than or equal to 1000"),
        ({"kwargs": {"steps": "²"}}, "steps"),
        ({"kwargs": {"steps": 2.5}}, "steps: Enter a whole number"),
        ({"kwargs": {"steps": True}}, "steps"),
        ({"kwargs": {"steps": [1]}}, "steps"),
        ({"kwargs": {"delay": 60}}, "delay"),
        ({"kwargs": {"stepz": 3}}, "does not take stepz (it takes steps, delay)"),
        ({"kwargs": [1, 2]}, '"kwargs" must be an object'),
        ({"task": "parallel_demo", "kwargs": {"parts": 100}}, "parts"),
    ],
)
def test_an_unlisted_task_or_bad_kwargs_is_a_400_and_nothing_is_queued(
    client: Client, body: dict[str, Any], words: str
) -> None:
    before, unfinished = queued_messages(), get_redis().zcard(UNFINISHED_KEY)
    response = post(client, body)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert queued_messages() == before
    # No snapshot made (a start always enters everyone's unfinished tasks), and no row of
    # this browser's (other rows may come: an earlier test's late progress.set, say).
    assert get_redis().zcard(UNFINISHED_KEY) == unfinished
    token = client.session.get(SESSION_OWNER_KEY)
    write_waiting_rows()
    assert token is None or not TaskRun.objects.filter(owner=f"session:{token}").exists()


@pytest.mark.parametrize("body", ["[" * 20000, "{" * 50, '{"kwargs": ' * 30, "nope", "[1, 2]"])
def test_a_malformed_or_deeply_nested_body_is_a_400_never_a_500(client: Client, body: str) -> None:
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/tasks/", body, content_type="application/json", headers={"X-CSRFToken": token}
    )
    assert response.status_code == 400
    assert "error" in response.json()


def test_status_is_the_owners_snapshot(client: Client) -> None:
    data = start(client)
    response = client.get(str(data["status_url"]))
    assert response.status_code == 200
    snapshot = response.json()
    assert snapshot["task_id"] == data["task_id"]
    assert set(snapshot) == LIVE_SNAPSHOT_FIELDS


def test_the_list_is_the_readers_own_tasks_newest_first_and_paginated(
    client: Client, settings: Any
) -> None:
    settings.PROGRESS_MAX_ACTIVE_TASKS = 10
    settings.PROGRESS_PAGE_SIZE = 2
    ids = [start(client, {"kwargs": {"steps": 5}})["task_id"] for _ in range(3)]
    start(Client(), {})  # someone else's
    first = client.get("/tasks/").json()
    assert [task["task_id"] for task in first["tasks"]] == [ids[2], ids[1]]
    assert first["count"] == 3 and first["pages"] == 2 and first["next_page"] == 2
    second = client.get("/tasks/?page=2").json()
    assert [task["task_id"] for task in second["tasks"]] == [ids[0]]
    assert second["next_page"] is None
    assert all(set(task) == LIVE_SNAPSHOT_FIELDS for task in first["tasks"])
    assert Client().get("/tasks/").json()["tasks"] == []
    assert client.get("/tasks/?page=x").status_code == 400


def test_staff_may_list_everyones_tasks(client: Client) -> None:
    mine = start(client)["task_id"]
    staff = Client()
    staff.force_login(User.objects.create_user("boss", password="x" * 12, is_staff=True))
    everyone = staff.get("/tasks/?all=1").json()["tasks"]
    assert mine in [task["task_id"] for task in everyone]
    assert staff.get("/tasks/").json()["tasks"] == []  # without all=1: their own
    assert client.get("/tasks/?all=1").json()["tasks"][0]["task_id"] == mine  # no effect


def test_history_answers_when_redis_has_lost_the_snapshot(client: Client) -> None:
    data = start(client)
    run = row(data["task_id"])
    run.state, run.result, run.current, run.total = "SUCCESS", {"steps": 100}, 100, 100
    run.save()
    get_redis().delete(key(data["task_id"]))  # expired, flushed or lost
    snapshot = client.get(str(data["status_url"])).json()
    assert snapshot["state"] == "SUCCESS" and snapshot["result"] == {"steps": 100}
    assert snapshot["percent"] == 100
    assert set(snapshot) == LIVE_SNAPSHOT_FIELDS
    assert client.get("/tasks/").json()["tasks"][0]["state"] == "SUCCESS"
    assert Client().get(str(data["status_url"])).status_code == 404  # still only the owner's


def test_logging_in_gives_the_sessions_tasks_to_the_user(client: Client) -> None:
    data = start(client)
    User.objects.create_user("ada", password="a-long-password-1")
    client.get("/accounts/login/")
    token = client.cookies["csrftoken"].value
    response = client.post(
        "/accounts/login/",
        {"username": "ada", "password": "a-long-password-1", "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert TaskRun.objects.get(task_id=data["task_id"]).owner.startswith("user:")
    # Another browser, same user: the task follows them, live from Redis.
    other = Client()
    other.login(username="ada", password="a-long-password-1")
    assert other.get(str(data["status_url"])).json()["state"] == "PENDING"
    assert [t["task_id"] for t in other.get("/tasks/").json()["tasks"]] == [data["task_id"]]


def test_login_and_logout_pages_exist_and_the_page_links_them(client: Client) -> None:
    assert client.get("/accounts/login/").status_code == 200
    html = client.get("/").content.decode()
    assert 'href="/accounts/login/"' in html
    client.force_login(User.objects.create_user("bob", password="b-long-password-1"))
    html = client.get("/").content.decode()
    assert "bob" in html and 'action="/accounts/logout/"' in html


def test_the_progress_bar_tag_renders_an_accessible_bar() -> None:
    task_id = str(uuid.uuid4())
    html = Template("{% load live_progress %}{% progress_bar task_id %}").render(
        Context({"task_id": task_id})
    )
    assert f'data-progress-task="{task_id}"' in html
    assert 'role="progressbar"' in html and 'aria-valuenow="0"' in html
    assert 'aria-valuemin="0"' in html and 'aria-valuemax="100"' in html
    assert "live_progress/embed.js" in html


def test_health_reports_redis_and_workers(client: Client) -> None:
    response = client.get("/health/")
    assert response.status_code == 200
    report = response.json()
    assert report["redis"]["ok"] is True
    assert isinstance(report["workers"]["online"], int)


def test_the_page_gives_a_new_session_its_owner_before_any_start(client: Client) -> None:
    # Two starts sent at once by a new page then share one owner (none is lost).
    client.get("/")
    assert client.session.get("progress_owner")
    first, second = start(client), start(client)
    listed = [task["task_id"] for task in client.get("/tasks/").json()["tasks"]]
    assert listed == [second["task_id"], first["task_id"]]
