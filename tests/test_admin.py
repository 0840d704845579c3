"""The task history in the admin stays small however many anonymous owners there are."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from live_progress.admin import OwnerFilter
from live_progress.models import TaskRun

pytestmark = [pytest.mark.django_db]

ROWS = 50_000
SESSIONS = 24_940  # with the users below: 25,000 owners


@pytest.fixture
def users() -> list[User]:
    return [User.objects.create_user(f"user{i}") for i in range(60)]


@pytest.fixture
def history(users: list[User]) -> None:
    """50,000 rows of 25,000 owners: a few users, and mostly one-visit anonymous sessions."""
    owners = [f"user:{user.pk}" for user in users]
    owners += [f"session:{uuid.uuid4().hex}" for _ in range(SESSIONS)]
    now = timezone.now()
    TaskRun.objects.bulk_create(
        (
            TaskRun(
                task_id=str(uuid.uuid4()),
                owner=owners[i % len(owners)],
                name=f"tests.task_{i % 3}",
                state="SUCCESS",
                created_at=now - timedelta(seconds=i),
                kwargs_summary='{"steps": 10}',
            )
            for i in range(ROWS)
        ),
        batch_size=5_000,
    )


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("root", "root@example.org", "x" * 12))
    return client


@pytest.mark.usefixtures("history")
def test_the_changelist_of_50000_tasks_lists_users_not_every_owner(
    admin_client: Client, users: list[User]
) -> None:
    response = admin_client.get("/admin/live_progress/taskrun/")
    assert response.status_code == 200
    assert len(response.content) < 200_000
    (owner_filter,) = [
        spec for spec in response.context["cl"].filter_specs if isinstance(spec, OwnerFilter)
    ]
    choices = [choice["display"] for choice in owner_filter.choices(response.context["cl"])]
    # "All", the three kinds, and the first users: never the sessions.
    assert len(choices) == 4 + OwnerFilter.USERS_LISTED
    assert choices[:4] == ["All", "Any user", "Anonymous sessions", "Nobody"]
    assert all(str(choice).startswith("User user") for choice in choices[4:])
    assert b"session:" not in response.content.split(b'id="changelist-filter"')[1]


@pytest.mark.usefixtures("history")
def test_an_owner_is_found_by_its_filter_or_by_searching(
    admin_client: Client, users: list[User]
) -> None:
    url = "/admin/live_progress/taskrun/"
    mine = admin_client.get(url, {"owner": f"user:{users[0].pk}"}).context["cl"]
    expected = TaskRun.objects.filter(owner=f"user:{users[0].pk}").count()
    assert mine.result_count == expected > 0
    session = TaskRun.objects.filter(owner__startswith="session:").first()
    assert session is not None
    found = admin_client.get(url, {"q": session.owner}).context["cl"]
    assert {run.owner for run in found.result_list} == {session.owner}
    anonymous = admin_client.get(url, {"owner": "sessions"}).context["cl"]
    assert all(run.owner.startswith("session:") for run in anonymous.result_list)
    of_users = admin_client.get(url, {"owner": "users"}).context["cl"].result_count
    assert of_users == TaskRun.objects.filter(owner__startswith="user:").count() > 0
