"""GET /health/ in production: verdicts for everyone, details only for staff."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.fixtures import Settings

pytestmark = [pytest.mark.django_db]


@pytest.fixture
def production(settings: Settings) -> Settings:
    settings.DEBUG = False
    return settings


def test_anonymous_health_in_production_shows_verdicts_without_internals(
    production: Settings,
) -> None:
    response = Client().get("/health/")
    assert response.status_code == 200
    report = response.json()
    assert set(report) >= {"redis", "workers", "flower"}
    assert report["redis"] == {"ok": True, "status": "OK"}
    assert isinstance(report["workers"]["online"], int)
    text = response.content.decode()
    for internal in ("redis://", "sqlite", "summary", "fix", "version", "127.0.0.1"):
        assert internal not in text


def test_staff_see_every_detail_in_production(production: Settings) -> None:
    staff = get_user_model().objects.create_user("ops", password="pw-for-tests", is_staff=True)
    client = Client()
    client.force_login(staff)
    report = client.get("/health/").json()
    assert report["redis"]["version"]
    assert "summary" in report["database"]


def test_development_shows_every_detail_to_anyone(settings: Settings) -> None:
    settings.DEBUG = True
    report = Client().get("/health/").json()
    assert report["redis"]["url"].startswith("redis://")
