"""Several "hosts" on one machine: Linux network namespaces joined by veth pairs and a bridge.

Each host is a namespace of its own with one interface, `eth0`, on a private subnet that
exists only inside these namespaces; the bridge lives in a hub namespace of its own, so
the machine's own interfaces, addresses and routes never change. A process runs on a host
under `ip netns exec`; test code talks to a host from a thread that joined another host's
namespace (`Network.run`). Taking a host's link down cuts it off like a pulled cable.

Needs root (or CAP_SYS_ADMIN and CAP_NET_ADMIN) and the `ip` command; `Network.start`
raises `NetworkUnavailable` with the reason when the namespaces cannot be made.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
import uuid
from collections.abc import Callable
from types import TracebackType
from typing import TypeVar

T = TypeVar("T")

CLONE_NEWNET = 0x40000000
SUBNET = "10.213.0"  # a /24 that exists only inside the namespaces


class NetworkUnavailable(Exception):
    """The namespaces, veth pairs or bridge cannot be created here (why, in words)."""


def _setns(path: str) -> None:
    """Move the calling thread (only) into the network namespace at `path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise OSError(errno, f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class Network:
    """Hosts in their own network namespaces on one private subnet, removed by `stop()`."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:8]
        self.hub = f"starter-{self.tag}-hub"
        self.addresses: dict[str, str] = {}
        self.ports: dict[str, str] = {}  # host → its veth end on the bridge, in the hub
        self._namespaces: list[str] = []
        self._ip = shutil.which("ip") or "ip"

    def namespace(self, host: str) -> str:
        return f"starter-{self.tag}-{host}"

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [self._ip, *args], capture_output=True, text=True, timeout=30, check=False
        )
        if done.returncode != 0:
            raise NetworkUnavailable(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}")

    def _add_namespace(self, name: str) -> None:
        self._run("netns", "add", name)
        self._namespaces.append(name)
        self._run("-n", name, "link", "set", "lo", "up")

    def start(self) -> Network:
        """Create the hub namespace and its bridge; raise NetworkUnavailable if we cannot."""
        if os.geteuid() != 0:
            raise NetworkUnavailable("creating network namespaces (ip netns add) needs root")
        if shutil.which("ip") is None:
            raise NetworkUnavailable("the `ip` command (iproute2) is not installed")
        try:
            self._add_namespace(self.hub)
            self._run("-n", self.hub, "link", "add", "br0", "type", "bridge")
            self._run("-n", self.hub, "link", "set", "br0", "up")
        except BaseException:
            self.stop()
            raise
        return self

    def add_host(self, host: str) -> str:
        """A new host with one interface on the bridge; returns its address."""
        address = f"{SUBNET}.{len(self.addresses) + 2}"
        ns, port = self.namespace(host), f"p{len(self.ports)}"
        self._add_namespace(ns)
        # Both ends are made inside namespaces: nothing appears on the machine itself.
        self._run(
            "-n", self.hub, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns
        )
        self._run("-n", self.hub, "link", "set", port, "master", "br0", "up")
        self._run("-n", ns, "addr", "add", f"{address}/24", "dev", "eth0")
        self._run("-n", ns, "link", "set", "eth0", "up")
        self.addresses[host], self.ports[host] = address, port
        return address

    def cut(self, host: str) -> None:
        """Take the host's link down: it can neither send nor receive any more."""
        self._run("-n", self.hub, "link", "set", self.ports[host], "down")

    def argv(self, host: str, argv: list[str]) -> list[str]:
        """`argv` run on `host` (the process and its children live in its namespace)."""
        return [self._ip, "netns", "exec", self.namespace(host), *argv]

    def run(self, host: str, fn: Callable[..., T], *args: object) -> T:
        """Call `fn(*args)` in a fresh thread inside `host`'s namespace; return its result.

        Only that thread joins the namespace (setns is per thread), and it ends with the
        call, so no thread of this process is left elsewhere.
        """
        outcome: dict[str, object] = {}

        def target() -> None:
            try:
                _setns(f"/var/run/netns/{self.namespace(host)}")
                outcome["value"] = fn(*args)
            except BaseException as error:
                outcome["error"] = error

        thread = threading.Thread(target=target, name=f"netns-{host}", daemon=True)
        thread.start()
        thread.join()
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["value"]  # type: ignore[return-value]

    def stop(self) -> None:
        """Delete every namespace made here (their veth pairs and the bridge go with them)."""
        for name in reversed(self._namespaces):
            subprocess.run(
                [self._ip, "netns", "delete", name], capture_output=True, timeout=30, check=False
            )
        self._namespaces.clear()

    def __enter__(self) -> Network:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
