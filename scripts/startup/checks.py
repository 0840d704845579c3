"""What must be free before anything starts: the ports, and room for supervisord's socket."""

from __future__ import annotations

import socket

from scripts.startup.environment import ROOT, StackError

# A Unix socket's path fits in 108 bytes (sun_path), the terminating NUL included.
SOCKET_PATH_MAX = 107


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on `port` (or holds it) on loopback."""
    with socket.socket() as probe:
        probe.settimeout(0.3)
        if probe.connect_ex((host, port)) == 0:
            return True
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers do
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def check_socket_path(production: bool) -> None:
    """supervisord's control socket lives in run/: a clone too deep for it is named now."""
    name = "supervisor.sock" if production else "supervisor-dev.sock"
    path = f"{ROOT / 'deploy'}/../run/{name}"  # as the configuration writes it
    if len(path.encode()) > SOCKET_PATH_MAX:
        raise StackError(
            f"The project's folder is too deep for supervisord's control socket ({path} is "
            f"{len(path.encode())} bytes; Unix sockets take {SOCKET_PATH_MAX}): move or clone "
            "it to a shorter path"
        )


def check_port(port: int, variable: str, script: str) -> None:
    """Raise a one-line StackError when `port` is taken."""
    if port_in_use(port):
        raise StackError(
            f"Port {port} is already in use ({variable}): stop what listens there or pick "
            f"another port, e.g. {variable}={port + 1} {script}"
        )
