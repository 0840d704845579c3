"""The project's folders and the variables the stack reads, as django_starter/settings.py
reads them (the environment first, then `.env`)."""

from __future__ import annotations

import os
from pathlib import Path

import environ

ROOT = Path(__file__).resolve().parents[2]
RUN_DIR = ROOT / "run"
REDIS_DIR = RUN_DIR / "redis"
REDIS_PASSWORD_FILE = RUN_DIR / "redis.password"
FLOWER_PASSWORD_FILE = RUN_DIR / "flower.password"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
FLOWER_USER = "admin"

environ.Env.read_env(ROOT / ".env", overwrite=False)
DJANGO_PORT = int(os.environ.get("DJANGO_PORT") or 8001)
FLOWER_PORT = int(os.environ.get("FLOWER_PORT") or 8054)
REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


class StackError(Exception):
    """A problem the user fixes; printed as one line, exit code 1."""
