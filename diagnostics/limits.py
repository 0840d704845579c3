"""Open files: every WebSocket holds one file descriptor in the web process that serves it.

A process inherits its RLIMIT_NOFILE from whatever started it: often a soft limit of
1,024, which caps a web process at about a thousand sockets however many the machine
could serve. `raise_open_files_limit` runs once as the web process starts (see
django_starter/asgi.py): it raises the soft limit to the hard one, which any process may
do, and prints one warning line when even that stays below what DJANGO_WEB_MAX_SOCKETS
sockets need. Only root (or the service manager: `LimitNOFILE=` in systemd, `ulimit -Hn`
in a shell, supervisord's `minfds` when it runs as root) can raise the hard limit.
"""

from __future__ import annotations

import resource
import sys
from typing import TextIO

# Descriptors a web process holds besides its sockets: its Redis and database
# connections, log files, the listening socket, the interpreter's own files.
OVERHEAD = 256
# Linux refuses an infinite soft limit for open files; this many is plenty.
_UNLIMITED = 1 << 20


def needed(max_sockets: int) -> int:
    """The open-files limit that `max_sockets` sockets need."""
    return max_sockets + OVERHEAD


def raise_open_files_limit(max_sockets: int, *, out: TextIO | None = None) -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one; warn (one line) when it stays too low.

    Returns the soft limit in force afterwards.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = _UNLIMITED if hard == resource.RLIM_INFINITY else hard
    if soft != resource.RLIM_INFINITY and soft < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):  # a kernel cap (fs.nr_open) below the hard limit
            pass
    if soft != resource.RLIM_INFINITY and soft < needed(max_sockets):
        print(
            f"WARNING: this web process may open {soft} files, fewer than the "
            f"{needed(max_sockets)} that DJANGO_WEB_MAX_SOCKETS={max_sockets} sockets need; "
            f"raise the hard limit (ulimit -Hn, LimitNOFILE= in systemd) or lower "
            f"DJANGO_WEB_MAX_SOCKETS",
            file=out or sys.stderr,
            flush=True,
        )
    return soft
