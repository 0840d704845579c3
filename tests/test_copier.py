"""copier: a project of one's own from the starter, and the starter's later changes merged in.

copier reads the template from git, so each test works from a `git clone` of the committed
repository (uncommitted work in this tree never leaks in). The generated project runs its
own quick tests once, in this run's virtualenv (pytest -s prints how long).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support.clone import link_venv
from tests.support.processes import ROOT, default_signals, free_port, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]

COPIER = str(Path(sys.executable).parent / "copier")
STARTER_NAMES = re.compile(r"django_starter|django-starter|Django Starter")
NOT_SOURCE = {".git", ".venv", "__pycache__", ".pytest_cache", ".mypy_cache", "logs", "run"}
GENERATED_FROM = "Generated from Django Starter"


def clean_env() -> dict[str, str]:
    """This session's environment without its settings, Redis and virtualenv: the generated
    project's scripts choose their own."""
    drop = ("DJANGO_", "CELERY_", "FLOWER_", "REDIS_URL", "TEST_REDIS_URL", "VIRTUAL_ENV")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    # copier commits in its scratch repositories; a machine without a git identity too.
    for role in ("AUTHOR", "COMMITTER"):
        env.setdefault(f"GIT_{role}_NAME", "Test")
        env.setdefault(f"GIT_{role}_EMAIL", "test@example.com")
    return env


def project_env(project: Path) -> dict[str, str]:
    """clean_env() for the generated project's processes: the linked virtualenv has the
    starter's own packages installed (editable), so the project's folders come first."""
    src = project / "packages" / "django-live-progress" / "src"
    return {**clean_env(), "PYTHONPATH": f"{project}{os.pathsep}{src}"}


def run(
    *argv: str, cwd: Path, timeout: float = 600, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command (in clean_env() unless told), fail with its output when it fails."""
    done = subprocess.run(
        argv, cwd=cwd, env=env or clean_env(), capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{argv}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def copier_copy(template: Path, destination: Path, *answers: str) -> None:
    """`copier copy` of the template's HEAD with the given `-d name=value` answers."""
    data = [arg for answer in answers for arg in ("-d", answer)]
    argv = [COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "HEAD", *data]
    run(*argv, str(template), str(destination), cwd=destination.parent)


def source_files(root: Path) -> Iterator[Path]:
    """The project's text files (not its .venv, caches, logs or git objects)."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if NOT_SOURCE.intersection(parts) or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and b"\0" not in path.read_bytes()[:8192]:
            yield path


def starter_names(root: Path) -> list[str]:
    """Every line that still names the starter, as `path: line`."""
    found = []
    for path in source_files(root):
        if path.name == ".copier-answers.yml":  # copier's record of where it came from
            continue
        for line in path.read_text(errors="replace").splitlines():
            if STARTER_NAMES.search(line):
                found.append(f"{path.relative_to(root)}: {line}")
    return found


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A clone of the committed repository: the template copier reads."""
    path = tmp_path_factory.mktemp("copier") / "template"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    return path


@pytest.fixture(scope="module")
def project(template: Path) -> Path:
    """ "Acme Portal", every other answer the default, in this run's virtualenv: its locks
    are the starter's, whose first install tests/test_start_scripts.py covers."""
    destination = template.parent / "acme-portal"
    began = time.monotonic()
    copier_copy(template, destination, "project_name=Acme Portal")
    print(f"\ncopier copy: {time.monotonic() - began:.1f}s")
    return link_venv(destination, dev=True)


def test_copy_renames_the_starter_everywhere_but_one_line(project: Path) -> None:
    assert starter_names(project) == [
        f"README.md: {GENERATED_FROM} (`{project.parent / 'template'}`) with copier: "
        "`copier update` brings its later changes."
    ]
    assert (project / "acme_portal" / "settings.py").exists()
    assert not (project / "django_starter").exists()
    assert "celery -A acme_portal worker" in (project / "deploy" / "supervisord.conf").read_text()
    assert (project / "README.md").read_text().startswith("# Acme Portal\n")
    assert 'name = "acme-portal"' in (project / "pyproject.toml").read_text()
    assert "# via acme-portal (pyproject.toml)" in (project / "requirements.lock").read_text()
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["project_slug"] == "acme_portal"
    assert (answers["database"], answers["broker"]) == ("sqlite", "redis")
    assert answers["_commit"]
    # The starter's own machinery stays behind; its scripts stay executable.
    for path in ("copier.yml", "scripts/rename_project.py", "tests/test_copier.py"):
        assert not (project / path).exists(), path
    assert not list(project.glob("*.jinja"))
    for script in ("start_dev.sh", "run_tests.sh", "start_all_services.sh", ".ci/run"):
        assert os.access(project / script, os.X_OK), script
    # The new name sorts elsewhere among the imports: they stay sorted as ruff wants them.
    ruff = str(Path(sys.executable).parent / "ruff")
    run(ruff, "check", "--no-cache", "--select", "I", ".", cwd=project)


def test_renaming_a_renamed_project_changes_nothing(project: Path, tmp_path: Path) -> None:
    copy = tmp_path / "again"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", ".git"))
    before = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    argv = ["--name", "Acme Portal", "--slug", "acme_portal", "--source", "elsewhere"]
    run(sys.executable, str(ROOT / "scripts" / "rename_project.py"), *argv, cwd=copy)
    after = {p.relative_to(copy): p.read_bytes() for p in copy.rglob("*") if p.is_file()}
    assert after == before


def test_postgres_and_rabbitmq_are_the_defaults_when_chosen(template: Path) -> None:
    destination = template.parent / "billing"
    answers = ["project_name=Billing!", "database=postgres", "broker=rabbitmq"]
    copier_copy(template, destination, *answers)
    settings = (destination / "billing" / "settings.py").read_text()
    assert 'env.db("DATABASE_URL", default="postgres:///billing")' in settings
    assert 'default="amqp://guest:guest@127.0.0.1:5672//")' in settings
    assert "sqlite:///" not in settings.split("DATABASES = ", 1)[1].split("\n", 1)[0]


def test_a_slug_that_is_no_identifier_is_refused(template: Path) -> None:
    argv = [COPIER, "copy", "--trust", "--defaults", "--vcs-ref", "HEAD"]
    argv += ["-d", "project_name=Acme", "-d", "project_slug=9-lives"]
    destination = template.parent / "refused"
    done = subprocess.run(
        [*argv, str(template), str(destination)], env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode != 0
    assert "A Python identifier in lower case is needed" in done.stderr
    assert not destination.exists()


def test_the_generated_project_starts_and_passes_its_quick_tests(project: Path) -> None:
    # The project's pyproject.toml builds the project under its own name.
    python = str(project / ".venv" / "bin" / "python")
    wheel = [python, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
    run(*wheel, "--disable-pip-version-check", "-w", "dist", ".", cwd=project)
    [built] = (project / "dist").glob("acme_portal-*.whl")
    with zipfile.ZipFile(built) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"acme_portal", "diagnostics"} <= tops and "django_starter" not in tops, tops
    shutil.rmtree(project / "dist")
    run(python, "-c", "import acme_portal.celery", cwd=project, env=project_env(project))
    run(python, "manage.py", "check", cwd=project, env=project_env(project))

    # ./start_dev.sh: the stack comes up under the project's own name.
    env = project_env(project)
    django_port = free_port()
    env.update(
        DJANGO_PORT=str(django_port),
        FLOWER_PORT=str(free_port()),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",  # nothing there: an embedded Redis
    )
    output = project / "start_dev.out"
    with output.open("w") as file, default_signals(signal.SIGINT, signal.SIGTERM):
        script = subprocess.Popen(
            ["./start_dev.sh"], cwd=project, env=env, stdout=file, stderr=subprocess.STDOUT
        )
    try:
        began = time.monotonic()
        wait_for(
            lambda: "Acme Portal is up" in output.read_text() or script.poll() is not None,
            timeout=300,
            what="the ready block",
        )
        print(f"generated project: ./start_dev.sh {time.monotonic() - began:.0f}s to ready")
        assert script.poll() is None, output.read_text()
        health = httpx.get(f"http://127.0.0.1:{django_port}/health/", timeout=10).json()
        assert health["workers"]["online"] >= 1
    finally:
        script.terminate()
        assert script.wait(90) == 143
        output.unlink()
    assert ". acme_portal.tasks.demo_task" in (project / "logs" / "worker.log").read_text()

    began = time.monotonic()
    quick = ["./run_tests.sh", "--quick", "-q"]
    tests = subprocess.run(
        quick, cwd=project, env=project_env(project), capture_output=True, text=True, timeout=1500
    )
    print(f"generated project: ./run_tests.sh --quick {time.monotonic() - began:.0f}s")
    print(tests.stdout.strip().splitlines()[-1])
    if tests.returncode != 0:
        # A test that measures timings or counts can miss once on a loaded machine: what
        # failed runs again (a renaming fault fails every time).
        print(tests.stdout[-3000:])
        again = [*quick, "--last-failed"]
        tests = subprocess.run(
            again,
            cwd=project,
            env=project_env(project),
            capture_output=True,
            text=True,
            timeout=600,
        )
        print(f"again: {tests.stdout.strip().splitlines()[-1]}")
    if tests.returncode != 0:
        failed = re.findall(r"^FAILED (\S+)", tests.stdout, re.M)
        assert failed, tests.stdout[-5000:] + tests.stderr[-3000:]
        starter = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *failed],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        failing_here_too = set(re.findall(r"^FAILED (\S+)", starter.stdout, re.M))
        assert set(failed) <= failing_here_too, tests.stdout[-5000:]
        pytest.xfail(f"the starter itself fails these quick tests too: {failed}")


def test_update_merges_the_starters_later_changes(template: Path, project: Path) -> None:
    """The project's own edits and the starter's new commit, merged without a conflict."""

    def git(*args: str, cwd: Path) -> str:
        return run("git", *args, cwd=cwd).stdout

    git("init", "--quiet", cwd=project)
    git("add", "-A", cwd=project)
    git("commit", "--quiet", "-m", "Acme Portal, from the starter", cwd=project)
    # The project's own work.
    with (project / "acme_portal" / "urls.py").open("a") as urls:
        urls.write("# acme: our own routes go here\n")
    with (project / "README.md").open("a") as readme:
        readme.write("\nAcme's own notes.\n")
    git("commit", "--quiet", "-am", "Our own changes", cwd=project)

    # The starter's later commit: a docs line, a new file, a change in the package.
    running = template / "docs" / "running.md"
    title, rest = running.read_text().split("\n", 1)
    running.write_text(f"{title}\n\nA line the starter added later.\n{rest}")
    (template / "docs" / "later.md").write_text("# Later\n\nDjango Starter's django_starter.\n")
    with (template / "django_starter" / "tasks.py").open("a") as module:
        module.write("# A comment the starter added later.\n")
    git("add", "-A", cwd=template)
    git("commit", "--quiet", "-m", "Later changes", cwd=template)

    began = time.monotonic()
    run(COPIER, "update", "--trust", "--defaults", cwd=project)
    print(f"\ncopier update: {time.monotonic() - began:.1f}s")

    assert "A line the starter added later." in (project / "docs" / "running.md").read_text()
    assert (project / "docs" / "later.md").read_text() == "# Later\n\nAcme Portal's acme_portal.\n"
    tasks = (project / "acme_portal" / "tasks.py").read_text()
    assert tasks.endswith("# A comment the starter added later.\n")
    assert "# acme: our own routes go here" in (project / "acme_portal" / "urls.py").read_text()
    assert "Acme's own notes." in (project / "README.md").read_text()
    assert not (project / "django_starter").exists()
    assert not [p for p in source_files(project) if p.suffix == ".rej"]
    markers = re.compile(r"^(<<<<<<<|>>>>>>>) ", re.M)
    assert not [p for p in source_files(project) if markers.search(p.read_text(errors="replace"))]
    status = git("status", "--porcelain", cwd=project).splitlines()
    assert sorted(status) == [
        " M .copier-answers.yml",
        " M acme_portal/tasks.py",
        " M docs/running.md",
        "?? docs/later.md",
    ]
    assert len(starter_names(project)) == 1
