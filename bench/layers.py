"""Fan-out to N sockets of one process: channels_redis' two layers against the progress hub.

    .venv/bin/python bench/layers.py [--members 100 1000] [--messages 50]

For each way, N receivers in one event loop (as N sockets of one Daphne) wait for
`--messages` messages of one task, sent one after another; the table gives the Redis
commands each message costs and the time until every receiver has every message (or,
for the hub, the latest: it coalesces by design). A private redis-server, nothing else.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.processes import RedisServer  # noqa: E402


def commands(url: str) -> int:
    import redis

    client = redis.Redis.from_url(url)
    try:
        return int(client.info("stats")["total_commands_processed"])
    finally:
        client.close()


async def channels_layer(layer: Any, url: str, members: int, messages: int) -> tuple[float, int]:
    """N channels in a group; `messages` group_sends; (seconds until all received all,
    Redis commands meanwhile)."""
    channels = [await layer.new_channel() for _ in range(members)]
    for channel in channels:
        await layer.group_add("bench", channel)

    async def drain(channel: str) -> None:
        for _ in range(messages):
            await layer.receive(channel)

    readers = [asyncio.create_task(drain(channel)) for channel in channels]
    await asyncio.sleep(0.2)  # every receiver is waiting
    before, began = commands(url), time.perf_counter()
    for seq in range(messages):
        await layer.group_send("bench", {"type": "progress.update", "seq": seq, "pad": "x" * 400})
    await asyncio.gather(*readers)
    took, used = time.perf_counter() - began, commands(url) - before - 1
    for channel in channels:
        await layer.group_discard("bench", channel)
    return took, used


class _Socket:
    """A watcher as ProgressConsumer is one: it keeps what the hub offers."""

    def __init__(self, done: asyncio.Event, final_seq: int, waiting: list[int]) -> None:
        self.done, self.final_seq, self.waiting = done, final_seq, waiting

    def offer(self, text: str, *, state: str, final: bool, at: float | None = None) -> None:
        if f'"seq": {self.final_seq},' in text:
            self.waiting[0] -= 1
            if self.waiting[0] == 0:
                self.done.set()

    def lost(self) -> None:
        raise AssertionError("Redis was not lost")


async def progress_hub(url: str, members: int, messages: int) -> tuple[float, int]:
    """N watchers of one task in the hub; `messages` changes written by the store."""
    from live_progress.store import snapshots
    from live_progress.web.hub import get_hub

    stored = snapshots.create(snapshots.new_snapshot(task_id=_new_id(), name="bench", owner="b"))
    task_id = stored["task_id"]
    done, waiting = asyncio.Event(), [members]
    hub = get_hub()
    sockets = [_Socket(done, messages + 1, waiting) for _ in range(members)]
    for socket in sockets:
        await hub.watch(task_id, socket)
    before, began = commands(url), time.perf_counter()
    for step in range(messages):
        await asyncio.to_thread(
            snapshots.record, task_id, state="PROGRESS", current=step, total=messages
        )
    await asyncio.wait_for(done.wait(), timeout=60)
    took, used = time.perf_counter() - began, commands(url) - before - 1
    for socket in sockets:
        await hub.unwatch(task_id, socket)
    return took, used


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _ways(url: str, n: int, count: int) -> dict[str, Callable[[], Awaitable[tuple[float, int]]]]:
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    return {
        "RedisChannelLayer (default)": lambda: channels_layer(
            RedisChannelLayer(hosts=[url], capacity=count + 10), url, n, count
        ),
        "RedisPubSubChannelLayer": lambda: channels_layer(
            RedisPubSubChannelLayer(hosts=[url]), url, n, count
        ),
        "progress hub": lambda: progress_hub(url, n, count),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--messages", type=int, default=50)
    options = parser.parse_args()
    server = RedisServer().start()
    os.environ.update(REDIS_URL=server.url, DJANGO_SETTINGS_MODULE="django_starter.settings")
    import django

    django.setup()
    rows = []

    async def all_ways() -> None:
        for members in options.members:
            ways = _ways(server.url, members, options.messages)
            for name, run in ways.items():
                took, used = await run()
                count = options.messages
                rows.append((members, name, used / count, took * 1000 / count))

    try:
        asyncio.run(all_ways())
    finally:
        server.stop()
    print(f"{'receivers':>9}  {'way':<28} {'Redis cmds/message':>18} {'ms/message':>10}")
    for members, name, per_message, ms in rows:
        print(f"{members:>9}  {name:<28} {per_message:>18.1f} {ms:>10.2f}")


if __name__ == "__main__":
    main()
