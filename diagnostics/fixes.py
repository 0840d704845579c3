"""The exact commands that fix what diagnostics find, in one place."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

START_STACK = "./start_dev.sh"
WORKER = "celery -A django_starter worker -l info"
BEAT = "celery -A django_starter beat -l info"
MIGRATE = "python manage.py migrate"


def worker_for_queue(queue: str) -> str:
    """Start a worker that consumes `queue`."""
    return f"{WORKER} -Q {queue}"


def flower() -> str:
    """Start Flower on FLOWER_PORT."""
    return f"celery -A django_starter flower --port={settings.FLOWER_PORT}"


def redis() -> str:
    """Start Redis: the dev script embeds one when none answers at REDIS_URL."""
    port = urlsplit(settings.REDIS_URL).port or 6379
    return f"{START_STACK} (starts an embedded Redis), or: redis-server --port {port}"


def broker() -> str:
    """Start the broker CELERY_BROKER_URL names, or point the variable at one that runs."""
    scheme = urlsplit(settings.CELERY_BROKER_URL).scheme
    if scheme.startswith(("amqp", "pyamqp")):
        return "start RabbitMQ (e.g. systemctl start rabbitmq-server), or fix CELERY_BROKER_URL"
    return "start the broker that CELERY_BROKER_URL names, or fix CELERY_BROKER_URL"
