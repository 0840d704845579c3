"""Fresh clones of the committed repository, for tests that run the start scripts.

`scripts/bootstrap.sh` installing a clone's .venv takes most of a minute: one test
(tests/test_start_scripts.py) covers that first install, and every other clone runs in
this test run's own virtualenv, linked, with the stamp that tells bootstrap.sh that it is
installed. Its own files (django_starter, scripts) come first on the path from its folder.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

# What scripts/bootstrap.sh hashes into its stamp, in its order.
HASHED = ["pyproject.toml", "packages/django-live-progress/pyproject.toml"]


def fresh_clone(path: Path) -> Path:
    """A `git clone` of the committed repository at `path`: no .venv, database or logs."""
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    return path


def link_venv(project: Path, *, dev: bool = False) -> Path:
    """Give `project` this run's virtualenv as its .venv, installed as far as bootstrap.sh
    (`--dev` with `dev`) can tell; returns `project`."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests run outside a virtualenv: nothing to link the clone to")
    venv = project / ".venv"
    venv.mkdir()
    shutil.copy(Path(sys.prefix) / "pyvenv.cfg", venv)
    for name in ("bin", "lib", "lib64", "include"):
        if (Path(sys.prefix) / name).exists():
            (venv / name).symlink_to(Path(sys.prefix) / name)
    for lock in ["requirements.lock", *(["requirements-dev.lock"] if dev else [])]:
        files = [lock, *HASHED]
        digest = hashlib.sha256(b"".join((project / name).read_bytes() for name in files))
        (venv / f".installed-{Path(lock).stem}").write_text(digest.hexdigest() + "\n")
    return project


def linked_clone(path: Path) -> Path:
    """A fresh clone at `path` in this run's virtualenv (see the module's docstring)."""
    return link_venv(fresh_clone(path))
