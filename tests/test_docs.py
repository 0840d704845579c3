"""The documentation: the MkDocs site builds strictly, and the README stays short and unbroken."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import ROOT

README = ROOT / "README.md"
PACKAGE = ROOT / "packages" / "django-live-progress"

# [text](target) and ![alt](target); the target ends at a space (a title) or the parenthesis.
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def relative_links(markdown: str) -> list[str]:
    """The link targets of a Markdown text that are paths, not URLs or same-page anchors."""
    prose = FENCE.sub("", markdown)
    targets = [match.group(1) for match in LINK.finditer(prose)]
    return [t for t in targets if not re.match(r"^([a-z][a-z0-9+.-]*:|#|//)", t, re.IGNORECASE)]


def anchors(markdown: str) -> set[str]:
    """The anchors of a Markdown file's headings, as GitHub and MkDocs spell them."""
    slugs = set()
    for title in HEADING.findall(FENCE.sub("", markdown)):
        text = re.sub(r"[`*]", "", title).lower()
        slugs.add(re.sub(r"[^\w\- ]", "", text).strip().replace(" ", "-"))
    return slugs


def leads_to_a_file(document: Path, target: str) -> bool:
    """True when `target`, relative to `document`, is a file (and a heading, for an anchor)."""
    path, _, anchor = target.partition("#")
    linked = (document.parent / path).resolve()
    if not linked.exists():
        return False
    return not anchor or linked.suffix != ".md" or anchor in anchors(linked.read_text())


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    """A dead link or anchor between pages, or a page missing from the nav, fails the build."""
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    assert (tmp_path / "index.html").exists()


def test_every_page_in_docs_is_in_the_nav() -> None:
    nav = (ROOT / "mkdocs.yml").read_text()
    pages = sorted(path.name for path in (ROOT / "docs").glob("*.md"))
    assert pages, "no page in docs/"
    assert [page for page in pages if f": {page}" not in nav] == []


def test_the_readme_has_at_most_200_lines() -> None:
    assert len(README.read_text().splitlines()) <= 200


@pytest.mark.parametrize(
    "document",
    [
        "README.md",
        "packages/django-live-progress/README.md",
        "packages/django-live-progress/CHANGELOG.md",
    ],
)
def test_every_relative_link_leads_to_a_file_that_exists(document: str) -> None:
    links = relative_links((ROOT / document).read_text())
    assert [target for target in links if not leads_to_a_file(ROOT / document, target)] == []


def test_the_readme_links_into_every_page_of_the_docs() -> None:
    linked = {Path(target.partition("#")[0]) for target in relative_links(README.read_text())}
    pages = {Path("docs") / path.name for path in (ROOT / "docs").glob("*.md")}
    assert pages - linked == set()


@pytest.mark.parametrize("document", ["README.md", "CHANGELOG.md"])
def test_the_package_docs_never_name_the_starter(document: str) -> None:
    """The package is published alone: its docs speak of any project, not of this one."""
    text = (PACKAGE / document).read_text()
    assert re.findall(r"django_starter|django starter|start_dev", text, re.IGNORECASE) == []
