"""`ProgressConsumer` at /ws/progress/<task_id>/: the task's snapshot, then every change."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer, WebsocketConsumer

from . import owners, services, store
from .broadcast import group_name
from .layers import LOST_ERRORS
from .live import live_fields
from .snapshot import PENDING, TERMINAL_STATES, Snapshot, Stored, is_valid_task_id, public

logger = logging.getLogger(__name__)

CLOSE_NOT_FOUND = 4404
CLOSE_FORBIDDEN = 4403
# Redis (the source of every snapshot) is unreachable: the page says so and reconnects.
CLOSE_SOURCE_LOST = 4503
# How often an open socket re-reads its live fields (workers_online, queue_position, why a
# queued task waits), so the page learns at once when a worker starts or stops: one
# pipelined Redis round trip per open socket per period.
LIVE_REFRESH_SECONDS = 0.5


class ProgressConsumer(AsyncJsonWebsocketConsumer):
    """Streams one task's snapshots to its owner and closes after a terminal state."""

    task_id: str
    last_seq: int = 0
    live: dict[str, Any] | None = None
    stored: Stored
    refresher: asyncio.Task[None] | None = None
    accepted: bool = False
    joined: bool = False
    closing: bool = False

    async def connect(self) -> None:
        self.task_id = self.scope["url_route"]["kwargs"]["task_id"]
        if not is_valid_task_id(self.task_id):
            await self.refuse(CLOSE_NOT_FOUND)
            return
        try:
            await self.authorize_and_subscribe()
        except LOST_ERRORS as error:
            logger.warning("WebSocket for %s refused, Redis unreachable: %r", self.task_id, error)
            await (self.source_lost() if self.accepted else self.refuse(CLOSE_SOURCE_LOST))

    async def authorize_and_subscribe(self) -> None:
        """Check the reader may see the task, join its group, send the snapshot."""
        snapshot = await self.read_snapshot()
        owner, is_staff = await self.reader()
        if snapshot is None:
            await self.send_from_history(owner=owner, is_staff=is_staff)
            return
        if not owners.may_read(snapshot, owner=owner, is_staff=is_staff):
            await self.refuse(CLOSE_FORBIDDEN)
            return
        # Join, then read again: a change between the first read and the join is not
        # missed (seq drops the duplicate), and a refused reader never joins at all.
        await self.channel_layer.group_add(group_name(self.task_id), self.channel_name)
        self.joined = True
        snapshot = await self.read_snapshot() or snapshot
        await self.accept()
        self.stored = snapshot
        await self.send_snapshot(public(snapshot))
        if snapshot["state"] not in TERMINAL_STATES:
            self.refresher = asyncio.create_task(self.refresh_live_fields())

    async def send_from_history(self, *, owner: str | None, is_staff: bool) -> None:
        """Redis has no snapshot: a finished task's comes from the history, then close."""
        snapshot = await database_sync_to_async(services.snapshot)(
            task_id=self.task_id, owner=owner, is_staff=is_staff
        )
        if snapshot is None:
            await self.refuse(CLOSE_NOT_FOUND)
            return
        await self.accept()
        self.closing = True
        await self.send_json(snapshot)
        await self.close()

    async def read_snapshot(self) -> Stored | None:
        return await sync_to_async(store.read, thread_sensitive=False)(task_id=self.task_id)

    async def disconnect(self, code: int) -> None:
        if self.refresher is not None:
            self.refresher.cancel()
        if self.joined:
            with contextlib.suppress(*LOST_ERRORS):  # Redis away: the group entry expires
                await self.channel_layer.group_discard(group_name(self.task_id), self.channel_name)

    async def accept(
        self, subprotocol: str | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        """Accept the handshake (remembered, so a later failure closes instead)."""
        self.accepted = True
        await super().accept(subprotocol, headers)

    async def progress_update(self, event: dict[str, Any]) -> None:
        """A new snapshot from the worker or the web process (message type progress.update)."""
        await self.send_snapshot(event["snapshot"])

    async def layer_lost(self, event: dict[str, Any]) -> None:
        """Redis went away under the channel layer (message type layer.lost): tell the page."""
        await self.source_lost()

    async def source_lost(self) -> None:
        """Close with 4503 once; the page shows its connection banner and reconnects."""
        if not self.closing:
            self.closing = True
            await self.close(code=CLOSE_SOURCE_LOST)

    async def send_snapshot(self, snapshot: Snapshot) -> None:
        if snapshot["seq"] <= self.last_seq:
            return  # an older message overtaken by a newer one
        self.last_seq = snapshot["seq"]
        self.last_snapshot = snapshot
        # Read the live fields on the first snapshot, and once more when the task leaves
        # the queue (no position, its own message); the refresher keeps them fresh.
        if self.live is None or (snapshot["state"] != PENDING and "message" in self.live):
            self.live = await self.live_fields(snapshot)
        await self.send_json({**snapshot, **self.live})
        if snapshot["state"] in TERMINAL_STATES:
            if self.refresher is not None and self.refresher is not asyncio.current_task():
                self.refresher.cancel()
            await self.close()

    async def live_fields(self, snapshot: Snapshot) -> dict[str, Any]:
        """workers_online, queue_position and, while queued, why (one Redis round trip)."""
        stored: Stored = {**self.stored, "state": snapshot["state"]}
        return await sync_to_async(live_fields, thread_sensitive=False)(stored)

    async def refresh_live_fields(self) -> None:
        """Each period: catch up on a change whose message was lost (the stored seq is
        ahead), and re-send the snapshot when its live fields change (a worker came or
        went, the queue moved)."""
        while True:
            await asyncio.sleep(LIVE_REFRESH_SECONDS)
            snapshot = self.last_snapshot
            try:
                stored_seq = await sync_to_async(store.seq_of, thread_sensitive=False)(
                    task_id=self.task_id
                )
                if stored_seq is not None and stored_seq > self.last_seq:
                    newer = await self.read_snapshot()
                    if newer is not None:
                        await self.send_snapshot(public(newer))
                    if self.closing or newer is None or newer["state"] in TERMINAL_STATES:
                        return
                    continue
                live = await self.live_fields(snapshot)
            except LOST_ERRORS:
                await self.source_lost()
                return
            if snapshot is not self.last_snapshot:
                continue  # a newer snapshot arrived meanwhile; read again next period
            with contextlib.suppress(Exception):
                if live != self.live:
                    self.live = live
                    await self.send_json({**snapshot, **live})

    async def refuse(self, code: int) -> None:
        """Accept only to close with an explicit code; no snapshot is ever sent."""
        await self.accept()
        await self.close(code=code)

    @database_sync_to_async
    def reader(self) -> tuple[str | None, bool]:
        user = self.scope.get("user")
        session = self.scope.get("session")
        owner = owners.existing_owner(user=user, session=session)
        return owner, bool(user is not None and user.is_staff)


class NotFoundConsumer(WebsocketConsumer):
    """Any other WebSocket path: the handshake is denied (HTTP 403)."""

    def connect(self) -> None:
        self.close()
