"""live_progress/web/views.py under the project's prefix: the page and the tasks API."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import redis
from celery import Celery
from django.contrib.auth import get_user_model
from django.test import Client, override_settings
from processes import Proc, wait_for

from live_progress.store.snapshot import TERMINAL_STATES

pytestmark = pytest.mark.django_db

API = "/progress/tasks/"


def post(client: Client, body: dict[str, Any], url: str = API, **extra: Any) -> Any:
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def ended(client: Client, status_url: str) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        data: dict[str, Any] = client.get(status_url).json()
        return data if data["state"] in TERMINAL_STATES else None

    result: dict[str, Any] = wait_for(done, timeout=60, what=f"{status_url} to end")
    return result


def task_keys(redis_client: redis.Redis) -> set[str]:
    return set(redis_client.scan_iter("progress:task:*", count=1000))


def my_tasks(client: Client) -> list[dict[str, Any]]:
    tasks: list[dict[str, Any]] = client.get(API).json()["tasks"]
    return tasks


def test_the_page_tells_its_script_where_the_api_is_under_the_prefix(client: Client) -> None:
    response = client.get("/progress/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-live-progress-api="/progress/tasks/"' in html
    assert 'id="start-task"' in html
    assert "csrftoken" in response.cookies


def test_the_page_names_the_command_that_starts_a_worker(client: Client) -> None:
    html = client.get("/progress/").content.decode()
    assert "celery -A testproject worker -l info" in html


def test_a_listed_task_started_by_post_runs_to_success(client: Client, worker: Proc) -> None:
    response = post(client, {"task": "count", "kwargs": {"steps": 5}})
    assert response.status_code == 202
    started = response.json()
    task_id = started["task_id"]
    assert started["state"] == "PENDING"
    assert started["name"] == "testproject.tasks.count"
    assert started["ws_url"] == f"/ws/progress/{task_id}/"
    assert started["status_url"] == f"{API}{task_id}/"
    finished = ended(client, started["status_url"])
    assert finished["state"] == "SUCCESS"
    assert (finished["current"], finished["total"], finished["percent"]) == (5, 5, 100)
    assert finished["workers_online"] >= 1
    assert [task["task_id"] for task in my_tasks(client)] == [task_id]


def test_the_first_listed_task_is_the_default(client: Client, worker: Proc) -> None:
    response = post(client, {})
    assert response.status_code == 202
    assert response.json()["name"] == "testproject.tasks.count"


def test_a_form_post_with_the_csrf_token_is_accepted(worker: Proc) -> None:
    client = Client(enforce_csrf_checks=True)
    client.get("/progress/")
    token = client.cookies["csrftoken"].value
    refused = client.post(API, {"task": "count"})
    assert refused.status_code == 403
    assert my_tasks(client) == []
    accepted = client.post(API, {"task": "count"}, headers={"X-CSRFToken": token})
    assert accepted.status_code == 202


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"task": "silent"}, "No task named 'silent'"),
        ({"task": "count", "kwargs": {"steps": 0}}, "steps"),
        ({"task": "count", "kwargs": {"colour": "red"}}, "does not take colour"),
        ({"task": "count", "kwargs": "[1, 2]"}, "kwargs"),
        ({"task": 7}, '"task" must be a task name'),
    ],
)
def test_a_bad_start_is_a_400_with_words_and_queues_nothing(
    client: Client, redis_client: redis.Redis, body: dict[str, Any], words: str
) -> None:
    before = task_keys(redis_client)
    response = post(client, body)
    assert response.status_code == 400
    assert words in response.json()["error"]
    assert task_keys(redis_client) == before
    assert my_tasks(client) == []


def test_without_a_celery_app_a_start_is_a_503_with_words_and_sends_nothing(
    client: Client, redis_client: redis.Redis, no_celery_app: Celery
) -> None:
    before = task_keys(redis_client)
    queued = redis_client.llen("celery")
    response = post(client, {"task": "count"})
    assert response.status_code == 503
    assert "No Celery app is configured" in response.json()["error"]
    assert task_keys(redis_client) == before
    assert redis_client.llen("celery") == queued
    assert my_tasks(client) == []


NOT_FOUND = {"error": "No task with this id belongs to you."}


@pytest.mark.parametrize(
    "path",
    [
        f"{uuid.uuid4()}/",
        "not-a-task-id/",
        f"{uuid.uuid4()}/extra/",
        "a/b/c/",
        f"{'x' * 500}/",
        "../",
        "%00/",
        "<script>/",
        "1;DROP/",
    ],
)
def test_an_unknown_or_malformed_id_is_a_404_json(client: Client, path: str) -> None:
    response = client.get(API + path)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_another_browsers_task_is_not_found(client: Client, worker: Proc) -> None:
    started = post(client, {"task": "count", "kwargs": {"steps": 1}}).json()
    stranger = Client()
    # A task of someone else's answers exactly as an unknown id: nothing tells it exists.
    response = stranger.get(started["status_url"])
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = post(stranger, {}, url=f"{started['status_url']}cancel/")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert my_tasks(stranger) == []
    assert ended(client, started["status_url"])["state"] == "SUCCESS"


def test_another_users_task_is_not_found_and_staff_may_read_and_cancel_it(
    worker: Proc,
) -> None:
    users = get_user_model().objects
    owner, other, staff = Client(), Client(), Client()
    owner.force_login(users.create_user("owner"))
    other.force_login(users.create_user("other"))
    staff.force_login(users.create_user("boss", is_staff=True))
    started = post(owner, {"task": "wait"}).json()
    status_url, cancel_url = started["status_url"], f"{started['status_url']}cancel/"
    response = other.get(status_url)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    response = post(other, {}, url=cancel_url)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert my_tasks(other) == []
    seen = staff.get(status_url)
    assert seen.status_code == 200 and seen.json()["task_id"] == started["task_id"]
    assert "owner" not in seen.json()
    cancelled = post(staff, {}, url=cancel_url)
    assert (cancelled.status_code, cancelled.json()["state"]) == (200, "REVOKED")
    assert owner.get(status_url).json()["state"] == "REVOKED"


def test_a_running_task_cancelled_by_its_owner_stops_at_its_next_progress_set(
    client: Client, worker: Proc
) -> None:
    started = post(client, {"task": "wait"}).json()
    wait_for(
        lambda: client.get(started["status_url"]).json()["state"] == "PROGRESS",
        what="the task to run",
    )
    response = post(client, {}, url=f"{started['status_url']}cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "REVOKED"
    task_id = started["task_id"]
    wait_for(lambda: f"[{task_id}] ignored" in worker.log(), what="the task to stop")
    assert client.get(started["status_url"]).json()["state"] == "REVOKED"


@override_settings(CSRF_FAILURE_VIEW="live_progress.web.views.csrf_failure")
def test_a_csrf_refusal_of_the_api_under_a_prefix_is_json() -> None:
    response = Client(enforce_csrf_checks=True).post(API, {"task": "count"})
    assert response.status_code == 403
    assert "CSRF check failed" in response.json()["error"]
