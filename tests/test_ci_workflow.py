"""The GitHub Actions workflow that a fork runs as is, read with a YAML parser."""

from __future__ import annotations

from typing import Any

import yaml

from tests.support.processes import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"


def load() -> dict[Any, Any]:
    workflow: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return workflow


def test_it_runs_on_every_push_and_pull_request() -> None:
    workflow = load()
    triggers = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: `on` is true
    assert set(triggers) == {"push", "pull_request"}


def test_it_runs_the_readme_test_command_on_ubuntu_with_python_3_11_and_3_12() -> None:
    (job,) = load()["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["strategy"]["matrix"]["python-version"] == ["3.11", "3.12"]
    commands = [step["run"] for step in job["steps"] if "run" in step]
    assert commands == ["./run_tests.sh"]
    assert "./run_tests.sh" in (ROOT / "README.md").read_text()


def test_it_caches_pip_and_needs_no_service_containers() -> None:
    (job,) = load()["jobs"].values()
    setup = next(
        step for step in job["steps"] if step.get("uses", "").startswith("actions/setup-python")
    )
    assert setup["with"]["python-version"] == "${{ matrix.python-version }}"
    assert setup["with"]["cache"] == "pip"
    assert (ROOT / setup["with"]["cache-dependency-path"]).exists()
    assert "services" not in job  # the tests start their own redis-server
