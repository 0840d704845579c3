"""The page's JavaScript keeps the snapshot's states as the Python table defines them."""

from __future__ import annotations

import re
from importlib.resources import files

from live_progress.store.snapshot import STATES, TERMINAL_STATES


def script(name: str) -> str:
    return (files("live_progress") / "static" / "live_progress" / name).read_text()


def test_the_scripts_terminal_states_are_the_tables() -> None:
    match = re.search(r"export const TERMINAL = new Set\(\[([^\]]*)\]\)", script("format.js"))
    assert match is not None, "format.js no longer defines TERMINAL"
    assert set(re.findall(r'"(\w+)"', match.group(1))) == set(TERMINAL_STATES)


def test_every_state_of_the_table_has_a_word_on_the_page() -> None:
    match = re.search(r"const STATE_WORDS = \{([^}]*)\}", script("format.js"))
    assert match is not None, "format.js no longer defines STATE_WORDS"
    assert re.findall(r"^\s*(\w+):", match.group(1), flags=re.M) == list(STATES)


def test_no_script_names_an_api_path_of_its_own() -> None:
    # The app may be mounted under any prefix: only urls.js knows where the API is, and
    # only from the page (data-live-progress-api).
    for path in (files("live_progress") / "static" / "live_progress").iterdir():
        if path.name.endswith(".js") and path.name != "urls.js":
            assert not re.search(r"[`\"']/tasks/", path.read_text()), path.name
