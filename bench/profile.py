"""py-spy recordings of a process (and its pool) around one measured step, summarised.

`python bench/run.py --profile` records Daphne during the largest watchers point and
the project worker during the first tracked throughput round (py-spy from .venv, as
root or with ptrace allowed). The raw (collapsed) stacks go to bench/results/; the
table's notes and the summary file name the functions that take the most samples.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

BIN = Path(sys.executable).parent
RATE = 100  # samples per second
# Frames of the project's own code, as `_function` shortens them: `name (web/hub.py)`
# (live_progress's web/, store/ and worker/), `name (diagnostics/metrics.py)`.
PROJECT_PACKAGES = (
    "(web/",
    "(store/",
    "(worker/",
    "(live_progress/",
    "(diagnostics/",
    "(django_starter/",
)


def py_spy() -> str | None:
    found = BIN / "py-spy"
    return str(found) if found.exists() else shutil.which("py-spy")


@contextlib.contextmanager
def recording(pid: int, output: Path, *, subprocesses: bool = False) -> Iterator[None]:
    """py-spy record --format raw on `pid` while the block runs (nothing if no py-spy)."""
    binary = py_spy()
    if binary is None:
        yield
        return
    argv = [binary, "record", "--pid", str(pid), "--rate", str(RATE), "--format", "raw"]
    argv += ["--output", str(output), "--nonblocking"]
    if subprocesses:
        argv.append("--subprocesses")
    spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        try:
            spy.wait(30)
        except subprocess.TimeoutExpired:
            spy.kill()


def _function(frame: str) -> str:
    """`name (path/to/file.py:123)` → `name (file.py)`: one entry per function."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0].rstrip(")")
    short = "/".join(path.split("/")[-2:])
    return f"{name} ({short})" if where else name


def summarise(raw: Path, top: int = 15) -> str:
    """Self and inclusive shares of the functions in a collapsed-stack file."""
    if not raw.exists():
        return f"{raw.name}: no samples (py-spy missing or not allowed)\n"
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = [_function(frame) for frame in stack.split(";")]
        frames = [frame for frame in frames if not frame.startswith(("process ", "thread "))]
        if frames:
            own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"{raw.name}: no samples\n"
    ours = Counter(
        {name: n for name, n in inclusive.items() if any(p in name for p in PROJECT_PACKAGES)}
    ).most_common(top)
    lines = [f"{raw.name}: {total} samples ({total / RATE:.1f} s of CPU at {RATE} Hz)"]
    lines += ["  self%  function (where the samples were)"]
    lines += [f"  {100 * n / total:5.1f}  {name}" for name, n in own.most_common(top)]
    lines += ["  incl%  the project's functions (with what they call)"]
    lines += [f"  {100 * n / total:5.1f}  {name}" for name, n in ours]
    return "\n".join(lines) + "\n"
