"""Other users of the machine get nothing: the stack's passwords, logs/, run/ and the SQLite
database are the user's alone (0700 folders, 0600 files)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import environ

from scripts.startup.environment import REDIS_DIR, ROOT, RUN_DIR, StackError


def secret(path: Path) -> str:
    """The password kept in `path` (0600), made on the first call."""
    if path.exists():
        password = path.read_text().strip()
        if password:
            return password
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    password = secrets.token_urlsafe(24)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(password + "\n")
    return password


def make_private() -> None:
    """logs/, run/ and the SQLite database become the user's alone (0700 and 0600), with
    whatever an earlier run (or an earlier version of these scripts) left in them."""
    folders = [ROOT / "logs", RUN_DIR, REDIS_DIR]
    for folder in folders:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    paths = [path for folder in folders[:2] for path in [folder, *folder.rglob("*")]]
    database = environ.Env.db_url_config(
        os.environ.get("DATABASE_URL") or f"sqlite:///{ROOT / 'db.sqlite3'}"
    )
    if database["ENGINE"].endswith("sqlite3") and database["NAME"] != ":memory:":
        paths += [Path(f"{database['NAME']}{suffix}") for suffix in ("", "-wal", "-shm")]
    for path in paths:
        if path.exists() and not path.is_symlink():
            try:
                path.chmod(0o700 if path.is_dir() else 0o600)
            except OSError as error:
                raise StackError(f"Cannot make {path} private (chmod): {error}") from error
