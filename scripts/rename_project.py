"""Make a copy of the starter a project of its own: copier runs this after every copy and
update (copier.yml's task), in the new project's folder.

  python scripts/rename_project.py --name "Acme Portal" --slug acme_portal [--database postgres]

Renames the package folder django_starter/ to the slug, and in every text file the names
`django_starter`, `django-starter` and "Django Starter"; sets pyproject's description and
author, and the default database and Celery broker. The README keeps one line saying where
the project comes from. Running it again on a renamed tree changes nothing, as copier
update needs: it renders the starter's new files over the project, then runs this again.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = "django_starter"
DISTRIBUTION = "django-starter"
NAME = "Django Starter"
GENERATED_FROM = "Generated from Django Starter"  # the README line that keeps the name
# Folders that are not the project's source (environments, caches, run-time files).
SKIPPED = {".git", ".venv", "node_modules", "__pycache__", "run", "logs", "staticfiles", "build"}
SKIPPED_PREFIXES = (".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis")
KEPT = {".copier-answers.yml"}  # copier's record of the answers: its source stays as given

SQLITE_DEFAULT = "default=f\"sqlite:///{BASE_DIR / 'db.sqlite3'}\""
SQLITE_HEADER = "# Database: SQLite by default, DATABASE_URL for PostgreSQL"
REDIS_BROKER = 'CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)'
RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672//"
# A one-line import: its indent, whether it is `from ... import`, and its module.
IMPORT = re.compile(r"^(\s*)(?:(from) ([\w.]+) import [^(\\]+|import ([\w.]+)[^,]*)$")


class RenameError(Exception):
    """The tree is not what this script knows how to rename; printed as one line."""


def text_files(root: Path) -> Iterator[Path]:
    """Every UTF-8 text file under `root`, outside the environments and caches."""
    for path in sorted(root.rglob("*")):
        parts = path.relative_to(root).parts
        if any(
            p in SKIPPED or p.startswith(SKIPPED_PREFIXES) or p.endswith(".egg-info") for p in parts
        ):
            continue
        if not path.is_file() or path.is_symlink() or path.name in KEPT:
            continue
        data = path.read_bytes()
        if b"\0" in data:
            continue
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        yield path


def rename_text(text: str, *, name: str, slug: str) -> str:
    """The starter's names replaced by the project's, except on the generated-from line."""
    lines = text.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if not line.startswith(GENERATED_FROM):
            line = line.replace(PACKAGE, slug).replace(DISTRIBUTION, slug.replace("_", "-"))
            lines[i] = line.replace(NAME, name)
    return "".join(lines)


def import_key(line: str) -> tuple[str, bool, str]:
    """Where ruff's isort puts a one-line import: `import x` before `from x import y`
    within a block, each by module name ignoring case."""
    found = IMPORT.match(line.rstrip("\n"))
    assert found
    indent, is_from, from_module, module = found.groups()
    return indent, bool(is_from), (from_module or module).lower()


def sort_moved_imports(text: str, slug: str) -> str:
    """The imports of `slug` moved to their sorted place in each block of one-line imports
    (the new name sorts elsewhere than django_starter did); every other line stays put."""
    lines = text.splitlines(keepends=True)
    start = 0
    while start < len(lines):
        if not IMPORT.match(lines[start].rstrip("\n")):
            start += 1
            continue
        indent = import_key(lines[start])[0]
        end = start
        while end < len(lines) and IMPORT.match(lines[end].rstrip("\n")):
            if import_key(lines[end])[0] != indent:
                break
            end += 1
        block = lines[start:end]
        ours = [line for line in block if re.match(rf"(from|import) {slug}\b", line.strip())]
        others = [line for line in block if line not in ours]
        for line in ours:
            key = import_key(line)
            at = next((i for i, o in enumerate(others) if import_key(o) > key), len(others))
            others.insert(at, line)
        lines[start:end] = others
        start = end
    return "".join(lines)


def move_package(root: Path, slug: str) -> None:
    """django_starter/ becomes <slug>/; files of a fresh copy replace the renamed ones."""
    source, target = root / PACKAGE, root / slug
    if source == target or not source.is_dir():
        return
    for path in sorted(source.rglob("*")):
        if path.is_file():
            destination = target / path.relative_to(source)
            destination.parent.mkdir(parents=True, exist_ok=True)
            path.replace(destination)
    shutil.rmtree(source)


def add_generated_from(root: Path, source: str) -> None:
    """One line under the README's title: where the project comes from."""
    readme = root / "README.md"
    if not readme.exists():
        return
    lines = readme.read_text().splitlines(keepends=True)
    if any(line.startswith(GENERATED_FROM) for line in lines):
        return
    origin = f" (`{source}`)" if source else ""
    line = f"{GENERATED_FROM}{origin} with copier: `copier update` brings its later changes.\n"
    readme.write_text("".join([*lines[:1], "\n", line, *lines[1:]]))


def set_project_metadata(root: Path, *, description: str, author: str) -> None:
    """pyproject.toml's description and authors."""
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    if description:
        quoted = description.replace("\\", "\\\\").replace('"', '\\"')
        text = re.sub(
            r'^description = ".*"$', f'description = "{quoted}"', text, count=1, flags=re.M
        )
    if author:
        quoted = author.replace("\\", "\\\\").replace('"', '\\"')
        authors = f'authors = [{{ name = "{quoted}" }}]'
        if re.search(r"^authors = .*$", text, re.M):
            text = re.sub(r"^authors = .*$", authors, text, count=1, flags=re.M)
        else:
            text = re.sub(r"^(description = .*)$", rf"\1\n{authors}", text, count=1, flags=re.M)
    pyproject.write_text(text)


def replace_once(path: Path, old: str, new: str) -> None:
    """`old` becomes `new` in `path`; done already is fine, neither found is an error."""
    text = path.read_text()
    if new in text:
        return
    if text.count(old) != 1:
        raise RenameError(f"{path}: expected one {old!r} to replace")
    path.write_text(text.replace(old, new))


def set_services(root: Path, *, slug: str, database: str, broker: str) -> None:
    """The defaults of DATABASE_URL and CELERY_BROKER_URL in <slug>/settings.py."""
    settings = root / slug / "settings.py"
    if database == "postgres":
        # The local server (its socket), as the user running the project: `createdb <slug>`.
        replace_once(settings, SQLITE_DEFAULT, f'default="postgres:///{slug}"')
        header = f"# Database: PostgreSQL, DATABASE_URL (by default the local server's {slug})"
        replace_once(settings, SQLITE_HEADER, header)
    if broker == "rabbitmq":
        new = f'CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="{RABBITMQ_URL}")'
        replace_once(settings, REDIS_BROKER, new)


def rename(
    root: Path,
    *,
    name: str,
    slug: str,
    description: str = "",
    author: str = "",
    database: str = "sqlite",
    broker: str = "redis",
    source: str = "",
) -> list[Path]:
    """Rename the tree at `root`; returns the files whose text changed."""
    if not slug.isidentifier() or not slug.islower():
        raise RenameError(f"--slug {slug!r} is not a lower-case Python identifier")
    move_package(root, slug)
    changed = []
    for path in text_files(root):
        text = path.read_text()
        renamed = rename_text(text, name=name, slug=slug)
        if path.suffix == ".py" and renamed != text:
            renamed = sort_moved_imports(renamed, slug)
        if renamed != text:
            path.write_text(renamed)
            changed.append(path)
    add_generated_from(root, source)
    set_project_metadata(root, description=description, author=author)
    set_services(root, slug=slug, database=database, broker=broker)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--name", required=True, help='the project\'s name, e.g. "Acme Portal"')
    parser.add_argument("--slug", required=True, help="the Python package, e.g. acme_portal")
    parser.add_argument("--description", default="")
    parser.add_argument("--author", default="")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--broker", choices=["redis", "rabbitmq"], default="redis")
    parser.add_argument("--source", default="", help="where the starter came from (README)")
    parser.add_argument("root", nargs="?", default=".", type=Path)
    args = parser.parse_args(argv)
    try:
        rename(
            args.root.resolve(),
            name=args.name,
            slug=args.slug,
            description=args.description,
            author=args.author,
            database=args.database,
            broker=args.broker,
            source=args.source,
        )
    except RenameError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
