"""live_progress/conf.py: each setting from the project, else the app's default."""

from __future__ import annotations

from django.conf import settings
from django.test import override_settings

from live_progress.conf import DEFAULTS, conf


def test_a_setting_the_project_does_not_set_is_the_apps_default() -> None:
    assert conf.PROGRESS_MAX_ACTIVE_TASKS == DEFAULTS["PROGRESS_MAX_ACTIVE_TASKS"] == 5


@override_settings(PROGRESS_MAX_ACTIVE_TASKS=2)
def test_a_setting_the_project_sets_wins() -> None:
    assert conf.PROGRESS_MAX_ACTIVE_TASKS == 2


@override_settings(PROGRESS_REDIS_URL="redis://progress:6379/1", REDIS_URL="redis://r:6379/2")
def test_the_progress_redis_url_comes_first() -> None:
    assert conf.redis_url == "redis://progress:6379/1"


@override_settings(PROGRESS_REDIS_URL=None, REDIS_URL="redis://r:6379/2")
def test_without_it_the_redis_url_serves() -> None:
    assert conf.redis_url == "redis://r:6379/2"


@override_settings(PROGRESS_REDIS_URL=None)
def test_without_either_it_is_redis_on_this_machine() -> None:
    del settings.REDIS_URL
    assert conf.redis_url == "redis://127.0.0.1:6379/0"
