"""flowerconfig.py's rules, on real Flower processes: no empty credentials, no foreign Host."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import BIN, ROOT, Proc, ProcessExited, free_port, stack_env, wait_for

pytestmark = [pytest.mark.slow]


def flower_argv(port: int) -> list[str]:
    return [str(BIN / "celery"), "-A", "django_starter", "flower", f"--port={port}"]


@pytest.mark.parametrize("credentials", [":", "admin:", ":secret", "admin", " :pw"])
def test_empty_user_or_password_is_refused_with_a_clear_error(
    redis_url: str, credentials: str
) -> None:
    env = stack_env(redis_url=redis_url, FLOWER_BASIC_AUTH=credentials)
    result = subprocess.run(
        flower_argv(free_port()), env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "Flower refuses FLOWER_BASIC_AUTH entry" in result.stderr
    assert "neither part empty" in result.stderr
    if "secret" in credentials:
        assert "secret" not in result.stderr  # the password is never echoed


def running_flower(
    app: str, env: dict[str, str], log_dir: Path, *, name: str = "flower"
) -> Iterator[int]:
    """A real Flower of `app` on a free port, until the generator is closed; yields the port."""
    port = free_port()
    argv = [str(BIN / "celery"), "-A", app, "flower", f"--port={port}"]
    proc = Proc(f"{name}-{port}", argv, env=env, log_dir=log_dir)

    def answers() -> bool:
        if not proc.alive():
            raise ProcessExited(f"flower exited:\n{proc.log()[-3000:]}")
        return httpx.get(f"http://127.0.0.1:{port}/healthcheck", timeout=2).status_code == 200

    try:
        wait_for(answers, timeout=60, what="Flower")
        yield port
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def flower(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A Flower on 127.0.0.1 without a password, as `celery -A django_starter flower` starts."""
    env = stack_env(redis_url=redis_url)
    yield from running_flower("django_starter", env, Path(tmp_path_factory.mktemp("flower")))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_loopback_host_names_are_served(flower: int, host: str) -> None:
    response = httpx.get(
        f"http://127.0.0.1:{flower}/", headers={"Host": f"{host}:{flower}"}, timeout=10
    )
    assert response.status_code == 200


@pytest.mark.parametrize("host", ["evil.example", "127.0.0.1.evil.example", "192.168.1.20"])
def test_any_other_host_header_is_refused(flower: int, host: str) -> None:
    # What a page whose DNS name was rebound to 127.0.0.1 sends: its own name.
    for path in ("/", "/api/workers", "/tasks/datatable"):
        response = httpx.get(
            f"http://127.0.0.1:{flower}{path}", headers={"Host": f"{host}:{flower}"}, timeout=10
        )
        assert response.status_code == 403, path


@pytest.fixture(scope="module", params=["django_starter", "scripts.flower_app"])
def flower_with_password(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """Flower with FLOWER_BASIC_AUTH, as both start scripts run it (production's app, and the
    dev stack's Django-free one)."""
    env = stack_env(redis_url=redis_url, FLOWER_BASIC_AUTH="admin:a-long-test-secret")
    log_dir = Path(tmp_path_factory.mktemp("flower-auth"))
    yield from running_flower(request.param, env, log_dir, name="flower-auth")


@pytest.mark.parametrize("path", ["/", "/workers", "/tasks", "/api/workers", "/api/tasks"])
def test_every_page_and_the_api_ask_for_the_password(flower_with_password: int, path: str) -> None:
    url = f"http://127.0.0.1:{flower_with_password}{path}"
    refused = httpx.get(url, timeout=15)
    assert refused.status_code == 401
    if not path.startswith("/api/"):  # a page: the browser asks for the password
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="flower"'
    assert httpx.get(url, auth=("admin", "wrong"), timeout=15).status_code == 401
    assert httpx.get(url, auth=("admin", "a-long-test-secret"), timeout=15).status_code == 200
