"""One function per service check; each returns a dict with `ok` and the details."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from typing import Any

from django.conf import settings

from progress.redis_client import get_redis

from .workers import worker_details


def check_redis() -> dict[str, Any]:
    """Is Redis answering at REDIS_URL, which version, how fast."""
    started = time.perf_counter()
    try:
        info = get_redis().info("server")
    except Exception as error:
        return {"ok": False, "url": _safe_url(settings.REDIS_URL), "error": str(error),
                "fix": "./start_dev.sh (starts an embedded Redis) or redis-server"}
    return {
        "ok": True,
        "url": _safe_url(settings.REDIS_URL),
        "version": info.get("redis_version"),
        "rtt_ms": round((time.perf_counter() - started) * 1000, 2),
    }


def check_workers() -> dict[str, Any]:
    """Workers whose heartbeat is fresh."""
    try:
        workers = worker_details()
    except Exception as error:
        return {"ok": False, "online": 0, "names": [], "error": str(error)}
    return {
        "ok": bool(workers),
        "online": len(workers),
        "names": [worker["name"] for worker in workers],
        "details": workers,
        **({} if workers else {"fix": "celery -A django_starter worker -l info"}),
    }


def check_flower(timeout: float = 1.0) -> dict[str, Any]:
    """Does Flower answer on FLOWER_PORT (a 401 counts: it runs, behind a password)."""
    url = f"http://127.0.0.1:{settings.FLOWER_PORT}/healthcheck"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except (OSError, ValueError) as error:
        return {"ok": False, "url": f"http://127.0.0.1:{settings.FLOWER_PORT}/",
                "error": str(error),
                "fix": f"celery -A django_starter flower --port={settings.FLOWER_PORT}"}
    return {"ok": status in (200, 401), "url": f"http://127.0.0.1:{settings.FLOWER_PORT}/",
            "status": status}


def health_report() -> dict[str, Any]:
    """Everything /health/ shows."""
    redis = check_redis()
    workers = check_workers() if redis["ok"] else {"ok": False, "online": 0, "names": []}
    return {"redis": redis, "workers": workers, "flower": check_flower()}


def _safe_url(url: str) -> str:
    """The URL without its password."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return urlunsplit(parts._replace(netloc=netloc))
    return url
