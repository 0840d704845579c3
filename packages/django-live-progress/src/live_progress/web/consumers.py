"""`ProgressConsumer` at /ws/progress/<task_id>/: the task's snapshot, then every change."""

from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Any, cast

from asgiref.typing import WebSocketSendEvent as WebSocketSend
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer, WebsocketConsumer
from channels.sessions import InstanceSessionWrapper

from live_progress.conf import conf
from live_progress.store.snapshot import Stored, is_valid_task_id
from live_progress.web import owners, services
from live_progress.web.hub import LOST_ERRORS, get_hub
from live_progress.web.stats import stats

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_FORBIDDEN = 4403
# Too many open sockets for this owner: the page polls GET /tasks/<id>/ for this card.
CLOSE_TOO_MANY = 4429
# Redis (the source of every snapshot) is unreachable: the page says so and reconnects.
CLOSE_SOURCE_LOST = 4503


class ProgressConsumer(AsyncWebsocketConsumer):
    """Streams one task's snapshots to its owner and closes after a terminal state.

    The process's hub does the work: it subscribes to the task once, whoever watches,
    and offers every socket the same encoded text; this consumer only checks who may
    watch and writes what it was offered: the latest text of each state in turn.
    """

    # No channel layer: the hub subscribes per task, not per socket (a layer would add a
    # subscription and a receive loop to every socket).
    channel_layer_alias = None  # type: ignore[assignment]
    task_id = ""
    owner: str | None = None
    watching = False
    closing = False
    wake: asyncio.Future[None] | None = None

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        # Texts offered and not yet written: one per state in a row, the latest of each.
        self.pending: deque[tuple[str, str, bool, float | None]] = deque()
        # Set by `offer` when the writer waits for a text: a bare future, not an Event (the
        # writer waits once per message on every socket, and an Event costs twice as much).
        self.wake = None
        if not is_valid_task_id(self.task_id):
            await self.refuse(CLOSE_NOT_FOUND)
            return
        hub = get_hub()
        try:
            stored = await hub.read(self.task_id)
        except LOST_ERRORS as error:
            logger.warning("WebSocket for %s refused, Redis unreachable: %r", self.task_id, error)
            await self.refuse(CLOSE_SOURCE_LOST)
            return
        self.owner, is_staff = await self.reader()
        if stored is None:
            await self.send_from_history(is_staff=is_staff)
        elif not await self.may_follow(stored, is_staff=is_staff):
            await self.refuse(CLOSE_FORBIDDEN)
        elif hub.sockets.get(self.owner or "", 0) >= conf.PROGRESS_MAX_SOCKETS_PER_OWNER:
            await self.refuse(CLOSE_TOO_MANY)
        else:
            await self.follow()

    async def follow(self) -> None:
        """Accept, then write each text the hub offers until the task ends."""
        hub = get_hub()
        await self.accept()
        self.base_send = _without_session_saving(self.base_send)
        hub.sockets[self.owner or ""] = hub.sockets.get(self.owner or "", 0) + 1
        stats.sockets += 1
        self.watching = True
        self.writer = asyncio.create_task(self.write_latest())
        try:
            await hub.watch(self.task_id, self)
        except (*LOST_ERRORS, TimeoutError):
            self.lost()

    def offer(self, text: str, *, state: str, final: bool, at: float | None) -> None:
        """A newer text of the task: it replaces an unwritten one of the same state."""
        if self.closing:
            return
        if self.pending and self.pending[-1][1] == state:
            self.pending[-1] = (text, state, final, at)
            stats.skipped += 1
        else:
            self.pending.append((text, state, final, at))
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    def lost(self) -> None:
        """Redis went away: close with 4503; the page shows its banner and reconnects."""
        if not self.closing:
            self.closing = True
            self.pending.clear()
            self._wake()

    async def write_latest(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if not self.pending and not self.closing:
                self.wake = loop.create_future()
                await self.wake
                self.wake = None
            if self.closing and not self.pending:  # lost
                await self.close(code=CLOSE_SOURCE_LOST)
                return
            while self.pending:
                text, _state, final, at = self.pending.popleft()
                # The server's send itself: what `self.send` would end in, two calls later.
                # (Only the key that is set: some servers, and Channels' tests, want one.)
                await self.base_send(
                    cast("WebSocketSend", {"type": "websocket.send", "text": text})
                )
                stats.sent_one(at)
                if final:
                    self.closing = True
                    await self.close()
                    return

    async def disconnect(self, code: int) -> None:
        if not self.watching:
            return
        self.watching = False
        hub = get_hub()
        hub.sockets[self.owner or ""] -= 1
        stats.sockets -= 1
        if not hub.sockets[self.owner or ""]:
            del hub.sockets[self.owner or ""]
        self.writer.cancel()
        await hub.unwatch(self.task_id, self)

    async def send_from_history(self, *, is_staff: bool) -> None:
        """Redis has no snapshot: a finished task's comes from the history, then close."""
        snapshot = await database_sync_to_async(services.snapshot)(
            task_id=self.task_id, owner=self.owner, is_staff=is_staff
        )
        if snapshot is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        await self.accept()
        await self.send_json(snapshot)
        await self.close()

    async def send_json(self, content: Any) -> None:
        await self.send(text_data=json.dumps(content))

    async def refuse(self, code: int) -> None:
        """Accept only to close with an explicit code; no snapshot is ever sent."""
        await self.accept()
        await self.close(code=code)

    async def may_follow(self, stored: Stored, *, is_staff: bool) -> bool:
        """The owner (or staff) may; a snapshot made again with no owner asks the history."""
        if owners.may_read(stored, owner=self.owner, is_staff=is_staff):
            return True
        return await database_sync_to_async(services.owned_by_history)(stored, owner=self.owner)

    @database_sync_to_async
    def reader(self) -> tuple[str | None, bool]:
        user = self.scope.get("user")
        session = self.scope.get("session")
        owner = owners.existing_owner(user=user, session=session)
        return owner, bool(user is not None and user.is_staff)


def _without_session_saving(send: Any) -> Any:
    """The socket's send without Channels' session wrappers, once the handshake is done.

    Channels' SessionMiddleware checks on every message whether the session changed, to
    save it; a progress socket never changes it, and that check was a tenth of the web
    process's time per message under load.
    """
    while isinstance(getattr(send, "__self__", None), InstanceSessionWrapper):
        send = send.__self__.real_send
    return send


class NotFoundConsumer(WebsocketConsumer):
    """Any other WebSocket path: the handshake is denied (HTTP 403)."""

    def connect(self) -> None:
        self.close()
