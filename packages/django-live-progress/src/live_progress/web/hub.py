"""The web process's hub: one Redis subscription per watched task, one fan-out per message.

Every change of a task is published on its Redis channel (see `snapshots.EVENTS_PREFIX`).
Each web process subscribes once per task its sockets watch, joins each message's text
(as the store's script wrote it) with the live fields (workers online, queue position)
once, and hands the same text to every socket watching that task. A socket that falls
behind gets the latest text when it is ready (latest wins, never a backlog), though
never at the cost of a change of state (RETRY, say, is not skipped); a terminal state
is the last text a task ever has, so it always arrives.

The live fields are read once per process every `LIVE_PERIOD`, not per socket: an idle
socket costs nothing (the hook answers a running task from a count it shares across
the process, so many running tasks cost one Redis command a period too). When the
subscription breaks, the hub re-subscribes and reads each watched task once, so a
change published meanwhile is not lost (`seq` tells).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from live_progress.conf import conf
from live_progress.store import lua, snapshots
from live_progress.store.snapshot import PENDING, TERMINAL_STATES, Stored
from live_progress.web.live import live_fields, workers_online

logger = logging.getLogger(__name__)

LOST_ERRORS = (OSError, RedisConnectionError, RedisTimeoutError)
LIVE_PERIOD = 0.5
# A subscription is confirmed by Redis within this time, or Redis counts as lost.
SUBSCRIBE_TIMEOUT = 10.0
# How long Redis may stay unreachable before the watching sockets are told (4503).
LOST_AFTER = 3.0
POOL_SIZE = 16
POOL_WAIT = 30.0


class Watcher(Protocol):
    """A socket that shows one task: the hub offers it each new text of the task (and when
    Redis published the change it carries, None for a text not sent for a change)."""

    def offer(self, text: str, *, state: str, final: bool, at: float | None) -> None: ...

    def lost(self) -> None: ...


@dataclass
class Watched:
    """One task that sockets of this process watch: its latest published text and state.

    A published message arrives as text and goes out as text: the live fields are joined
    to it, and it is decoded only when the live fields of the task are read (at most
    once per LIVE_PERIOD), not once per message.
    """

    stored: dict[str, Any] = field(default_factory=dict)  # the last full read
    seq: int = 0
    state: str = ""
    published: str = ""  # the public fields' JSON text of `seq`
    watchers: set[Watcher] = field(default_factory=set)
    live: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def final(self) -> bool:
        return self.state in TERMINAL_STATES

    def current(self) -> dict[str, Any]:
        """The stored snapshot as of the latest message (decoded here, for the live fields)."""
        if self.published and self.seq != self.stored.get("seq"):
            self.stored = {**self.stored, **json.loads(self.published)}
        return self.stored

    def compose(self) -> str:
        """The text every watcher gets: the published text and the live fields, joined."""
        if "message" in self.live:  # it replaces the published message: one key, not two
            self.text = json.dumps({**json.loads(self.published), **self.live})
        elif self.live:
            self.text = f"{self.published[:-1]},{json.dumps(self.live)[1:]}"
        else:
            self.text = self.published
        return self.text


class Hub:
    """The process's subscriptions, latest snapshots and live fields (one per event loop)."""

    def __init__(self) -> None:
        # A few connections that requests wait for, not one per request: a burst of
        # sockets connecting queues here instead of opening hundreds of connections at
        # once and timing out (which would read as "Redis lost" while Redis is fine).
        pool = aioredis.BlockingConnectionPool.from_url(
            conf.redis_url,
            max_connections=POOL_SIZE,
            timeout=POOL_WAIT,
            decode_responses=True,
            socket_connect_timeout=conf.REDIS_SOCKET_TIMEOUT,
            socket_timeout=max(5.0, conf.REDIS_SOCKET_TIMEOUT),
            health_check_interval=15,
        )
        self.redis = aioredis.Redis(connection_pool=pool)
        self.pubsub = self.redis.pubsub()
        self.tasks: dict[str, Watched] = {}
        self.sockets: dict[str, int] = {}  # open sockets per owner, in this process
        self._confirmed: dict[str, asyncio.Event] = {}
        self._subscribed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self._workers_online: int | None = None

    # --- reading ------------------------------------------------------------------------
    async def read(self, task_id: str) -> Stored | None:
        """The task's stored snapshot (one HGETALL on this process's async client)."""
        raw = await self.redis.hgetall(snapshots.key(task_id))
        return snapshots.decode(cast("dict[str, str]", raw))

    # --- watching -----------------------------------------------------------------------
    async def watch(self, task_id: str, watcher: Watcher) -> None:
        """Offer `watcher` the task's current text, then each change, until `unwatch`."""
        self._start()
        watched = self.tasks.get(task_id)
        if watched is None:
            watched = self.tasks[task_id] = Watched()
            await self._subscribe(task_id)
            # Read after the subscription is confirmed: nothing published between the two
            # is missed (an older or equal seq is dropped).
            stored = await self.read(task_id)
            if stored is not None:
                self._update_from_read(task_id, dict(stored))
            if not watched.live and not watched.final and watched.published:
                watched.live = await asyncio.to_thread(live_fields, self._for_live(watched))
                watched.compose()
        watched.watchers.add(watcher)
        if watched.text:
            watcher.offer(watched.text, state=watched.state, final=watched.final, at=None)

    async def unwatch(self, task_id: str, watcher: Watcher) -> None:
        """The socket is gone; the last one of a task ends its subscription."""
        watched = self.tasks.get(task_id)
        if watched is None:
            return
        watched.watchers.discard(watcher)
        if not watched.watchers:
            del self.tasks[task_id]
            with contextlib.suppress(*LOST_ERRORS):
                await self.pubsub.unsubscribe(snapshots.events_channel(task_id))

    async def _subscribe(self, task_id: str) -> None:
        channel = snapshots.events_channel(task_id)
        confirmed = self._confirmed[channel] = asyncio.Event()
        await self.pubsub.subscribe(channel)
        self._subscribed.set()
        try:
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                await confirmed.wait()
        finally:
            self._confirmed.pop(channel, None)

    # --- messages -----------------------------------------------------------------------
    def _start(self) -> None:
        if self._reader is None or self._reader.done():
            self._reader = asyncio.create_task(self._read_forever(), name="progress-hub-reader")
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.create_task(self._refresh_forever(), name="progress-hub-live")

    async def _read_forever(self) -> None:
        while True:
            if not self.pubsub.subscribed:
                self._subscribed.clear()
                await self._subscribed.wait()
            try:
                message = await self.pubsub.get_message(timeout=1.0)
            except LOST_ERRORS as error:
                await self._recover(error)
                continue
            except RuntimeError:  # every channel was just unsubscribed: nothing to read
                await asyncio.sleep(0.05)
                continue
            if message is not None:
                self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        channel = str(message.get("channel", ""))
        if message["type"] == "subscribe":
            if channel in self._confirmed:
                self._confirmed[channel].set()
            return
        if message["type"] != "message":
            return
        task_id = channel.removeprefix(snapshots.EVENTS_PREFIX)
        if task_id in self.tasks:
            seq, state, at, text = lua.split_event(message["data"])
            self._update(task_id, seq, state, text, at=at)

    def _update_from_read(self, task_id: str, stored: dict[str, Any]) -> None:
        """A full read (on connect, after Redis came back): its public fields as one text."""
        public = {name: stored.get(name) for name in snapshots.PUBLISHED_FIELDS}
        watched = self.tasks.get(task_id)
        if watched is not None and int(stored.get("seq") or 0) > watched.seq:
            watched.stored = stored
        self._update(task_id, int(stored.get("seq") or 0), stored["state"], json.dumps(public))

    def _update(
        self, task_id: str, seq: int, state: str, published: str, *, at: float | None = None
    ) -> None:
        """A newer text (by seq) replaces the old one and goes to every watcher."""
        watched = self.tasks.get(task_id)
        if watched is None or seq <= watched.seq:
            return
        left_queue = watched.state == PENDING and state != PENDING
        watched.seq, watched.state, watched.published = seq, state, published
        if left_queue or watched.final:  # no more queue position or "why it waits"
            online = watched.live.get("workers_online", self._workers_online)
            watched.live = {"workers_online": online, "queue_position": None}
        elif state != PENDING:  # it moved: a "no progress for…" no longer holds
            watched.live.pop("message", None)
        self._send(watched, at=at)

    def _send(self, watched: Watched, *, at: float | None) -> None:
        text, state, final = watched.compose(), watched.state, watched.final
        for watcher in list(watched.watchers):
            watcher.offer(text, state=state, final=final, at=at)

    # --- live fields, once per process ----------------------------------------------
    async def _refresh_forever(self) -> None:
        """Every LIVE_PERIOD: the live fields of the watched tasks; push what changed."""
        while True:
            await asyncio.sleep(LIVE_PERIOD)
            if not self.tasks:
                continue
            unfinished = {
                task_id: self._for_live(watched)
                for task_id, watched in self.tasks.items()
                if watched.published and not watched.final
            }
            try:
                online, live_of = await asyncio.to_thread(self._live_of, unfinished)
            except Exception:  # Redis away: the reader notices and tells the sockets
                logger.debug("could not read the live fields", exc_info=True)
                continue
            self._workers_online = online
            for task_id, watched in list(self.tasks.items()):
                if not watched.published or watched.final:
                    continue
                live = live_of.get(task_id) or {"workers_online": online, "queue_position": None}
                if live != watched.live:
                    watched.live = live
                    self._send(watched, at=None)

    @staticmethod
    def _live_of(tasks: dict[str, Stored]) -> tuple[int | None, dict[str, dict[str, Any]]]:
        """The live fields of each task (counts and positions are shared across the process)."""
        return workers_online(), {task_id: live_fields(stored) for task_id, stored in tasks.items()}

    @staticmethod
    def _for_live(watched: Watched) -> Stored:
        return watched.current()  # type: ignore[return-value]

    # --- Redis lost and back ------------------------------------------------------------
    async def _recover(self, error: BaseException) -> None:
        """Re-subscribe and catch up; tell the sockets only if Redis stays away."""
        logger.warning("progress subscription lost: %s", error)
        waited = 0.0
        while True:
            try:
                await self.redis.ping()
                channels = [snapshots.events_channel(task_id) for task_id in self.tasks]
                await self.pubsub.aclose()  # type: ignore[no-untyped-call]
                if channels:
                    await self.pubsub.subscribe(*channels)
                for task_id in list(self.tasks):
                    stored = await self.read(task_id)
                    if stored is not None:
                        self._update_from_read(task_id, dict(stored))
                return
            except LOST_ERRORS:
                await asyncio.sleep(0.5)
                waited += 0.5
                if waited >= LOST_AFTER:
                    for watched in list(self.tasks.values()):
                        for watcher in list(watched.watchers):
                            watcher.lost()


_hubs: dict[asyncio.AbstractEventLoop, Hub] = {}


def get_hub() -> Hub:
    """The hub of the running event loop (one per web process, made on first use)."""
    loop = asyncio.get_running_loop()
    hub = _hubs.get(loop)
    if hub is None:
        hub = _hubs[loop] = Hub()
    return hub
