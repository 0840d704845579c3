"""Web and workers on separate hosts: a worker host dies mid-task, another host finishes it.

Six hosts, each a network namespace on a private subnet (tests/support/netns.py): "redis"
runs redis-server, "web" and "web-2" run Daphne each, "worker-a" and "worker-b" run one
Celery worker each, and "client" is the browser, which starts the task through one web
host and watches it through both (as behind a proxy without sticky sessions). Every
process reaches the others only by their addresses on that subnet, as on separate
machines; what they share besides the network is the code, the settings and the SQLite
file (the filesystem is common to namespaces; several real machines would share a
PostgreSQL through DATABASE_URL, see tests/test_backends.py). Skipped, with the reason,
where namespaces cannot be made.
"""

from __future__ import annotations

import asyncio
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from live_progress.store.workers import WORKERS_KEY
from tests.support.live import Watch, cookie_header, last_state, start_task
from tests.support.netns import Network, NetworkUnavailable
from tests.support.processes import (
    BIN,
    ROOT,
    Proc,
    ProcessExited,
    redis_server_binary,
    stack_env,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# The dead host's task comes back after the visibility timeout; the time limits stay
# below it, as the settings require, and the task (4 s) well inside them.
VISIBILITY_TIMEOUT = 10
STEPS, DELAY = 40, 0.1
WEB_PORT = 8000


class Cluster:
    """The six hosts and the processes on them; `stop()` ends all of it."""

    def __init__(self, net: Network, logs: Path) -> None:
        self.net, self.logs = net, logs
        self.procs: dict[str, Proc] = {}
        self.expected: set[str] = set()  # hosts whose process must stay up
        for host in ("redis", "web", "web-2", "worker-a", "worker-b", "client"):
            net.add_host(host)
        address = net.addresses
        self.redis_url = f"redis://{address['redis']}:6379/0"
        self.base_url = f"http://{address['web']}:{WEB_PORT}"
        self.other_base_url = f"http://{address['web-2']}:{WEB_PORT}"
        self.env = stack_env(
            redis_url=self.redis_url,
            database_path=logs / "db.sqlite3",
            DJANGO_ALLOWED_HOSTS=f"{address['web']},{address['web-2']}",
            CELERY_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
            CELERY_TASK_SOFT_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 3),
            CELERY_TASK_TIME_LIMIT=str(VISIBILITY_TIMEOUT - 2),
        )

    def start(self, host: str, argv: list[str]) -> Proc:
        proc = Proc(host, self.net.argv(host, argv), env=self.env, log_dir=self.logs)
        self.procs[host] = proc
        return proc

    def on_client(self, fn: Any, *args: Any) -> Any:
        """Run `fn(*args)` on the client host (a thread in its namespace)."""
        return self.net.run("client", fn, *args)

    def wait(self, predicate: Any, *, what: str, timeout: float = 60) -> Any:
        """Wait, from the client host, for `predicate()`; a process that died is named in the
        failure, with the end of its log."""

        def check() -> Any:
            dead = [h for h, p in self.procs.items() if not p.alive() and h in self.expected]
            if dead:
                raise ProcessExited(f"{dead[0]} exited:\n{self.procs[dead[0]].log()[-3000:]}")
            return predicate()

        return self.on_client(lambda: wait_for(check, timeout=timeout, what=what))

    def start_stack(self) -> None:
        """redis-server, the schema, Daphne and both workers, each on its host."""
        address = self.net.addresses["redis"]
        self.start(
            "redis",
            [
                redis_server_binary(),
                *("--bind", address, "--port", "6379", "--protected-mode", "no"),
                *("--save", "", "--appendonly", "no", "--dir", str(self.logs)),
            ],
        )
        self.expected = {"redis"}
        self.wait(self.redis_answers, what="redis-server on the redis host")
        migrate = self.net.argv("web", [str(BIN / "python"), "manage.py", "migrate", "-v0"])
        subprocess.run(migrate, env=self.env, cwd=ROOT, check=True, timeout=120)
        for web in ("web", "web-2"):
            bind = self.net.addresses[web]
            self.start(web, [str(BIN / "daphne"), "-b", bind, "-p", str(WEB_PORT), ASGI])
        for host in ("worker-a", "worker-b"):
            self.start(host, [*CELERY_WORKER, "-n", f"{host}@%h"])
        self.expected = {"redis", "web", "web-2", "worker-a", "worker-b"}
        for url in (self.base_url, self.other_base_url):
            self.wait(
                lambda url=url: httpx.get(f"{url}/health/", timeout=2).status_code == 200,
                what=f"Daphne at {url}",
            )
        self.wait(lambda: self.online() == {"worker-a", "worker-b"}, what="both workers online")

    def _redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_timeout=2, decode_responses=True)

    def redis_answers(self) -> bool:
        client = self._redis()
        try:
            return bool(client.ping())
        finally:
            client.close()

    def online(self) -> set[str]:
        """The worker hosts with a live heartbeat (read on the client host's thread)."""
        client = self._redis()
        try:
            now = client.time()[0]
            names = client.zrangebyscore(WORKERS_KEY, now - 2, "+inf")
        finally:
            client.close()
        return {str(name).split("@")[0] for name in names}

    def stop(self) -> None:
        """Stop every process, Redis last (the workers say goodbye through it)."""
        for proc in reversed(self.procs.values()):
            proc.stop(timeout=10)


ASGI = "django_starter.asgi:application"
CELERY_WORKER = [
    str(BIN / "celery"),
    *("-A", "django_starter", "worker", "-l", "info", "-c", "1"),
    *("--without-mingle", "--without-gossip"),
]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """The hosts with their processes, all stopped and removed afterwards, even on failure."""
    net = Network()
    try:
        try:
            cluster = Cluster(net.start(), tmp_path)
        except NetworkUnavailable as error:
            pytest.skip(f"cannot build hosts from network namespaces here: {error}")
        try:
            cluster.start_stack()
            yield cluster
        finally:
            cluster.stop()
    finally:
        net.stop()


def runner(cluster: Cluster, task_id: str) -> str | None:
    """The worker host whose log shows it received the task."""
    for host in ("worker-a", "worker-b"):
        if f"[{task_id}] received" in cluster.procs[host].log():
            return host
    return None


async def follow_through_a_host_failure(cluster: Cluster) -> dict[str, Any]:
    """As the browser on the client host: start a task, watch it, kill the host running it."""
    async with httpx.AsyncClient(base_url=cluster.base_url, timeout=10) as client:
        started = await start_task(
            client, task="long_running_task", kwargs={"steps": STEPS, "delay": DELAY}
        )
        task_id, ws_url, cookie = started["task_id"], started["ws_url"], cookie_header(client)
        # The same page's socket on each web host: progress must reach both.
        async with (
            Watch(cluster.base_url, ws_url, cookie=cookie) as ws,
            Watch(cluster.other_base_url, ws_url, cookie=cookie) as other,
        ):
            await ws.wait_for(
                lambda w: any(m["state"] == "PROGRESS" and m["percent"] >= 20 for m in w.messages),
                timeout=60,
                what="progress before the host dies",
            )
            first = runner(cluster, task_id)
            assert first is not None, "a worker host received the task"
            # The host dies: its cable is pulled and every process on it is gone at once.
            cluster.expected.discard(first)
            cluster.net.cut(first)
            cluster.procs[first].signal(signal.SIGKILL)
            killed_at, seen = time.monotonic(), len(ws.messages)
            await ws.wait_for(
                lambda w: "STARTED" in w.states[seen:],
                timeout=VISIBILITY_TIMEOUT + 60,
                what="the task to start again on the other host",
            )
            returned_after = time.monotonic() - killed_at
            await ws.wait_for(
                lambda w: last_state(w) == "SUCCESS",
                timeout=60,
                what="SUCCESS from the other host",
            )
            await ws.until_closed()
            await other.until_closed()
        listed = (await client.get("/tasks/")).json()["tasks"]
    return {
        "task_id": task_id,
        "first": first,
        "watch": ws,
        "other_watch": other,
        "returned_after": returned_after,
        "listed": listed,
    }


def test_a_dead_worker_host_task_finishes_on_another_host(cluster: Cluster) -> None:
    outcome = cluster.on_client(asyncio.run, follow_through_a_host_failure(cluster))
    task_id, first, ws = outcome["task_id"], outcome["first"], outcome["watch"]
    second = ({"worker-a", "worker-b"} - {first}).pop()
    print(
        f"\n{first} died mid-task; {second} started it again "
        f"{outcome['returned_after']:.1f} s later (visibility timeout {VISIBILITY_TIMEOUT} s)"
    )

    # The page's sockets on both web hosts saw the task start over and succeed.
    other = outcome["other_watch"]
    assert other.messages[-1]["state"] == "SUCCESS", other.states
    assert other.close_code == 1000
    assert "STARTED" in other.states
    assert ws.messages[-1]["state"] == "SUCCESS"
    assert ws.messages[-1]["percent"] == 100
    assert ws.messages[-1]["result"]["steps"] == STEPS
    assert ws.close_code == 1000
    seqs = [m["seq"] for m in ws.messages]
    assert seqs == sorted(seqs)
    restart = len(ws.states) - 1 - ws.states[::-1].index("STARTED")
    assert ws.messages[restart]["current"] == 0 < max(m["current"] for m in ws.messages[:restart])

    # It ran to the end on the other host, and only there; the dead host never finished it.
    # (The log line follows the SUCCESS message: the pool process writes it just after.)
    finished = re.compile(rf"\[{task_id}\] succeeded")
    wait_for(
        lambda: finished.search(cluster.procs[second].log()),
        timeout=30,
        what=f"the success line in {second}'s log",
    )
    assert not finished.search(cluster.procs[first].log())

    # The history the web host answers from agrees; the dead host dropped out of the count.
    assert [(t["task_id"], t["state"]) for t in outcome["listed"]] == [(task_id, "SUCCESS")]
    assert cluster.wait(lambda: cluster.online() == {second}, what="the dead host to drop out")
