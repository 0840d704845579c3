"""The machine and the stack's versions for the results, and the bench-only requirements."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

REQUIREMENTS = Path(__file__).resolve().parent / "requirements.txt"


def machine() -> dict[str, Any]:
    """Cores, CPU, OS, Python, Redis and the stack's package versions."""
    from live_progress.store.client import get_redis

    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in read("/proc/cpuinfo").splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "?",
    )
    packages = (
        "Django",
        "celery",
        "channels",
        "channels-redis",
        "daphne",
        "redis",
        "websockets",
        "celery-progress",
        "uvicorn",
        "uvloop",
        "granian",
    )
    return {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "os": platform.platform(),
        "python": platform.python_version(),
        "redis_server": get_redis().info("server")["redis_version"],
        "load_average": " ".join(f"{value:.2f}" for value in os.getloadavg()),
        "memory_gib": round(_meminfo_kib("MemTotal") / 2**20, 1),
        "packages": {name: metadata.version(name) for name in packages},
    }


def _meminfo_kib(name: str) -> int:
    for line in read("/proc/meminfo").splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def ensure_bench_requirements() -> None:
    """bench/requirements.txt (celery-progress, granian) into this .venv, with pip, when missing."""
    wanted = [
        line.split("==")
        for line in REQUIREMENTS.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    try:
        if all(metadata.version(name) == version for name, version in wanted):
            return
    except metadata.PackageNotFoundError:
        pass
    print("Installing bench/requirements.txt into .venv (bench only)", file=sys.stderr)
    pip = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)


def read(path: str) -> str:
    """A file's text, or '' when it cannot be read."""
    try:
        return Path(path).read_text()
    except OSError:
        return ""
