"""System checks: `manage.py check` names a miswired project before anything runs.

Each message says what is wrong and the fix in words; the ids are live_progress.E… for
what breaks the app and live_progress.W… for what breaks one part of it.
"""

from __future__ import annotations

from typing import Any

import redis
from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register
from django.utils.module_loading import import_string
from kombu.utils.url import maybe_sanitize_url as safe_url

from live_progress.celery_app import configured_app
from live_progress.conf import conf

SESSION_MIDDLEWARE = "django.contrib.sessions.middleware.SessionMiddleware"
AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
# Seconds each service gets to answer a check: enough on a working network, short when not.
REACH_TIMEOUT = 1


@register()
def celery_app_configured(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """E001: a Celery app exists; without one, tasks would go to Celery's default broker."""
    if configured_app() is not None:
        return []
    return [
        Error(
            "No Celery app is configured: tasks would be sent to Celery's default broker "
            "(amqp://guest@localhost//), where nothing may run them.",
            hint="Add a celery.py beside settings.py as Celery's 'First steps with Django' "
            "shows (Celery('<project>'), config_from_object('django.conf:settings', "
            "namespace='CELERY'), autodiscover_tasks()), import it in the project's "
            "__init__.py, and set CELERY_BROKER_URL.",
            id="live_progress.E001",
        )
    ]


@register()
def sessions_and_auth(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """E002/E003: a task's owner is its session or user, so both middlewares must run."""
    middleware = list(getattr(settings, "MIDDLEWARE", []))
    problems: list[CheckMessage] = []
    if SESSION_MIDDLEWARE not in middleware or not apps.is_installed("django.contrib.sessions"):
        problems.append(
            Error(
                "Sessions are not enabled: a task belongs to the browser session that "
                "started it, so nobody could read their own tasks.",
                hint=f"Add 'django.contrib.sessions' to INSTALLED_APPS and "
                f"'{SESSION_MIDDLEWARE}' to MIDDLEWARE.",
                id="live_progress.E002",
            )
        )
    if AUTH_MIDDLEWARE not in middleware or not apps.is_installed("django.contrib.auth"):
        problems.append(
            Error(
                "Authentication is not enabled: the app reads request.user to know whose "
                "tasks these are.",
                hint=f"Add 'django.contrib.auth' to INSTALLED_APPS and '{AUTH_MIDDLEWARE}' "
                "to MIDDLEWARE (after the session middleware).",
                id="live_progress.E003",
            )
        )
    return problems


@register()
def startable_tasks(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """E004: every PROGRESS_TASKS entry imports (a task, or a function returning a canvas)."""
    problems: list[CheckMessage] = []
    for name in conf.PROGRESS_TASKS:
        try:
            import_string(name)
        except ImportError as error:
            problems.append(
                Error(
                    f"PROGRESS_TASKS lists {name!r}, which does not import: {error}",
                    hint="Give the dotted path of a Celery task (or of a function that "
                    "returns a signature), e.g. 'myapp.tasks.resize_photos'.",
                    obj=name,
                    id="live_progress.E004",
                )
            )
    return problems


@register()
def asgi_application(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """W001: WebSockets need an ASGI application (and an ASGI runserver in development)."""
    problems: list[CheckMessage] = []
    if not getattr(settings, "ASGI_APPLICATION", None):
        problems.append(
            Warning(
                "ASGI_APPLICATION is not set: the live bars' WebSockets have no server, so "
                "pages fall back to asking every 2 s.",
                hint="Route live_progress.routing.websocket_urlpatterns in your asgi.py "
                "(Channels' ProtocolTypeRouter) and set ASGI_APPLICATION = "
                "'<project>.asgi.application'.",
                id="live_progress.W001",
            )
        )
    elif settings.DEBUG and not apps.is_installed("daphne"):
        problems.append(
            Warning(
                "'daphne' is not in INSTALLED_APPS: `manage.py runserver` serves no "
                "WebSocket (every live bar's socket gets 404).",
                hint="Put 'daphne' first in INSTALLED_APPS (pip install daphne), or run an "
                "ASGI server (daphne, uvicorn) in development.",
                id="live_progress.W002",
            )
        )
    return problems


# With --deploy only: Celery's Django fix-up runs every default check each time task
# modules are imported (in workers, and wherever autodiscovery runs), and those must not
# wait on the network.
@register(deploy=True)
def services_answer(app_configs: Any = None, **_: Any) -> list[CheckMessage]:
    """W003/W004: the broker and the progress Redis answer (each asked once, briefly)."""
    problems: list[CheckMessage] = []
    app = configured_app()
    if app is not None:
        broker = app.connection_for_write()
        try:
            broker.ensure_connection(max_retries=1, timeout=REACH_TIMEOUT)
        except Exception as error:
            problems.append(
                Warning(
                    f"The Celery broker at {safe_url(str(app.conf.broker_url))} does not "
                    f"answer ({error}): started tasks would wait, or fail to be sent.",
                    hint="Start the broker, or point CELERY_BROKER_URL at one that runs.",
                    id="live_progress.W003",
                )
            )
        finally:
            broker.release()
    client = redis.Redis.from_url(
        conf.redis_url, socket_timeout=REACH_TIMEOUT, socket_connect_timeout=REACH_TIMEOUT
    )
    try:
        client.ping()
    except redis.RedisError as error:
        problems.append(
            Warning(
                f"Redis at {safe_url(conf.redis_url)} does not answer ({error}): "
                "no progress can be stored or shown.",
                hint="Start Redis, or set PROGRESS_REDIS_URL (or REDIS_URL) to one that runs.",
                id="live_progress.W004",
            )
        )
    finally:
        client.close()
    return problems
