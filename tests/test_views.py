"""HTTP views with Django's test client against the real Redis (no worker needed)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.test import Client

from django_starter.celery import app as celery_app
from tests.support.expected import LIVE_SNAPSHOT_FIELDS

pytestmark = [pytest.mark.django_db]


@pytest.fixture(autouse=True)
def purge_started_tasks() -> Iterator[None]:
    """These tests queue real tasks; drop them so that no later worker spends time on them."""
    yield
    celery_app.control.purge()


@pytest.fixture
def client() -> Client:
    return Client(enforce_csrf_checks=True)


def start(client: Client) -> dict[str, object]:
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/tasks/", headers={"X-CSRFToken": token})
    assert response.status_code == 202, response.content
    return dict(response.json())


def test_page_has_the_start_button_and_no_cdn(client: Client) -> None:
    response = client.get("/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "Start Task" in html
    assert "progress/progress.js" in html
    assert "https://" not in html and "http://" not in html


def test_start_answers_202_with_the_contract_fields(client: Client) -> None:
    data = start(client)
    assert set(data) >= {"task_id", "state", "ws_url", "status_url", "workers_online"}
    assert data["state"] == "PENDING"
    assert data["ws_url"] == f"/ws/progress/{data['task_id']}/"
    assert data["status_url"] == f"/tasks/{data['task_id']}/"
    assert isinstance(data["workers_online"], int)


def test_start_without_csrf_token_is_forbidden(client: Client) -> None:
    client.get("/")
    assert client.post("/tasks/").status_code == 403


def test_start_with_get_is_not_allowed(client: Client) -> None:
    assert client.get("/tasks/").status_code == 405


def test_status_is_the_owners_snapshot(client: Client) -> None:
    data = start(client)
    response = client.get(str(data["status_url"]))
    assert response.status_code == 200
    snapshot = response.json()
    assert snapshot["task_id"] == data["task_id"]
    assert snapshot["state"] in {"PENDING", "STARTED", "PROGRESS", "SUCCESS"}
    assert set(snapshot) == LIVE_SNAPSHOT_FIELDS


def test_another_session_gets_404_json(client: Client) -> None:
    data = start(client)
    stranger = Client()
    response = stranger.get(str(data["status_url"]))
    assert response.status_code == 404
    assert response.json() == {"error": "No task with this id belongs to you."}


def test_unknown_id_is_404_not_pending(client: Client) -> None:
    start(client)  # the session owns tasks, just not this one
    response = client.get(f"/tasks/{uuid.uuid4()}/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"


@pytest.mark.parametrize("task_id", ["abc", "x" * 500, "..", "%00", "<script>", "1;DROP"])
def test_malformed_id_is_404_json_never_500(client: Client, task_id: str) -> None:
    response = client.get(f"/tasks/{task_id}/")
    assert response.status_code == 404
    assert "error" in response.json()


def test_the_page_lists_the_sessions_tasks_after_a_reload(client: Client) -> None:
    data = start(client)
    html = client.get("/").content.decode()
    assert str(data["task_id"]) in html


def test_health_reports_redis_and_workers(client: Client) -> None:
    response = client.get("/health/")
    assert response.status_code == 200
    report = response.json()
    assert report["redis"]["ok"] is True
    assert isinstance(report["workers"]["online"], int)
    assert "flower" in report


@pytest.mark.parametrize("steps", ["²", "٣", "1e3", "-5", "0", "1001", " ", "9" * 20, "true"])
def test_bad_steps_are_a_400_with_the_rule_in_words(client: Client, steps: str) -> None:
    client.get("/")
    token = client.cookies["csrftoken"].value
    response = client.post("/tasks/", {"steps": steps}, headers={"X-CSRFToken": token})
    assert response.status_code == 400
    assert response.json() == {"error": "steps must be a whole number from 1 to 1000."}
