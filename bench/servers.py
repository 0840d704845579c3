"""The ASGI servers side by side: Daphne, Uvicorn (as the project runs it) and Granian.

Daphne and Uvicorn get their listening socket as fd 0, opened here, as supervisord's
fcgi-program hands it to the project's web processes: several processes started on the
same socket share it (the kernel gives each new connection to one of them). Granian
cannot take a socket (it has no `--fd`), so it binds its own port with one worker.
Every server serves bench.asgi (the project's routes, as django_starter/asgi.py starts
them) with the benchmark's settings.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import psutil

from tests.support.processes import BIN, ROOT, Proc, free_port, wait_for

from .stack import BENCH_ASGI, BENCH_SETTINGS, BenchStack, signals_deferred

SERVERS = ("daphne", "uvicorn", "granian")
PROJECT_ASGI = "django_starter.asgi:application"
LISTEN_BACKLOG = 4096
# Granian holds at most `backpressure` connections per worker (backlog / workers by
# default, 1,024): an open WebSocket is one, so it is raised for the 2,000 sockets.
GRANIAN = (
    "granian --interface asgi --ws --workers 1 --backlog 4096 --backpressure 4096 "
    f"--no-access-log --log-level warning --host 127.0.0.1 --port {{port}} {BENCH_ASGI}"
)


def project_commands() -> dict[str, str]:
    """WEB_SERVERS of scripts/stack.py (read in a child: importing it loads .env)."""
    code = "import json, sys; sys.path.insert(0, 'scripts'); import stack; "
    code += "print(json.dumps(stack.WEB_SERVERS))"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    if done.returncode:
        raise RuntimeError(f"scripts/stack.py: {done.stderr[-2000:]}")
    commands: dict[str, str] = json.loads(done.stdout.strip().splitlines()[-1])
    return commands


class WebServers:
    """`count` processes of one server on one listening socket; its URL, pids, command."""

    def __init__(self, stack: BenchStack, server: str, count: int = 1) -> None:
        self.stack = stack
        self.server = server
        self.procs: list[Proc] = []
        self.listener: socket.socket | None = None
        if server == "granian":
            if count != 1:
                raise ValueError("granian cannot share a socket (no --fd): one process only")
            port = free_port()
            self.command = GRANIAN.format(port=port)
        else:
            self.listener = socket.socket()
            self.listener.bind(("127.0.0.1", 0))
            self.listener.listen(LISTEN_BACKLOG)
            port = self.listener.getsockname()[1]
            self.command = project_commands()[server].replace(PROJECT_ASGI, BENCH_ASGI)
        self.port = int(port)
        self.base_url = f"http://127.0.0.1:{port}"
        argv = shlex.split(self.command)
        argv[0] = str(BIN / argv[0])
        env = {**stack.env, "DJANGO_SETTINGS_MODULE": BENCH_SETTINGS}
        try:
            for index in range(count):
                with signals_deferred():
                    proc = Proc(  # fd 0: the shared listening socket, as supervisord gives it
                        f"{server}-{port}-{index}",
                        argv,
                        env=env,
                        log_dir=stack.dir,
                        stdin=self.listener.fileno() if self.listener else subprocess.DEVNULL,
                    )
                    self.procs.append(proc)
                    stack.procs.append(proc)
                    stack.pids.append(proc.pid)
            wait_for(self._answers, timeout=60, what=f"{server} on {self.base_url}")
        except BaseException:
            self.stop()
            raise

    def _answers(self) -> bool:
        for proc in self.procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited:\n{proc.log()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{self.base_url}/health/", timeout=2) as response:
                return bool(response.status == 200)
        except urllib.error.HTTPError as error:  # 503: serving, a service behind it is down
            return error.code == 503

    @property
    def pids(self) -> list[int]:
        """Every process of the servers: the ones started and their children (Granian's)."""
        found = []
        for proc in self.procs:
            found.append(proc.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                found += [child.pid for child in psutil.Process(proc.pid).children(True)]
        return found

    def version(self) -> str:
        """The server package's version."""
        from importlib import metadata

        return metadata.version(self.server)

    def stop(self) -> None:
        """Stop the processes and close the listening socket."""
        for proc in self.procs:
            self.stack.stop_proc(proc)
        if self.listener is not None:
            self.listener.close()
            self.listener = None


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of these processes (/proc/<pid>/stat), in seconds."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / tick
