"""Cross-replica wake-ups on PostgreSQL: a write that other replicas must react to NOTIFYs a channel in its transaction
(delivered only when it commits), and every replica LISTENs on one dedicated asyncpg connection (a pooled one would
drop its LISTEN on release). Channels: committed outbox work wakes the delivery worker; saved settings drop the
settings cache; written connections drop a chat from the connections cache (store/chat_cache.py, with the chat as
payload); a recorded send block makes every worker hold that chat or tenant (store/send_blocks.py). A notification
can be missed while that connection is down, so after reconnecting every handler runs once (a payload handler with
None: "anything"); the worker keeps a slow fallback poll, the settings cache a fallback TTL, and the connections
cache is not used while `listening` is false."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)
OUTBOX_CHANNEL = "connected_chats_outbox"
SETTINGS_CHANNEL = "connected_chats_settings"
BLOCKS_CHANNEL = "connected_chats_blocks"  # a Bot Connector 429: a chat or tenant waits (store/send_blocks.py)
RECONNECT_EVERY = 2.0  # seconds between attempts while the database is away


class PgWakeups:
    def __init__(self, url: str, handlers: Mapping[str, Callable[[], None]],
                 payload_handlers: Mapping[str, Callable[[str | None], None]] | None = None) -> None:
        self.url, self.handlers = url, dict(handlers)
        self.payload_handlers = dict(payload_handlers or {})
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """LISTEN before returning (what is committed from now on reaches this replica), then keep listening."""
        with contextlib.suppress(Exception):
            await self._connect()
        if self._conn is None:
            self._lost.set()
        self._task = asyncio.create_task(self._keep(), name="LISTEN for other replicas")

    async def _connect(self) -> None:
        import asyncpg
        conn = await asyncpg.connect(self.url, timeout=10)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        for channel in [*self.handlers, *self.payload_handlers]:
            await conn.add_listener(channel, self._notified)
        self._conn = conn
        self._lost.clear()

    @property
    def listening(self) -> bool:
        """Whether commits made elsewhere reach this process now."""
        return self._conn is not None and not self._lost.is_set()

    def _notified(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        if channel in self.payload_handlers:
            self.payload_handlers[channel](payload)
        else:
            self.handlers[channel]()

    async def _keep(self) -> None:
        while True:
            await self._lost.wait()
            self._conn = None
            try:
                await self._connect()
            except Exception as exc:  # the fallbacks carry on meanwhile
                log.warning("LISTEN connection failed (%s); retrying in %.0f s", exc, RECONNECT_EVERY)
                await asyncio.sleep(RECONNECT_EVERY)
                continue
            for handler in self.handlers.values():  # whatever was committed while we were not listening
                handler()
            for with_payload in self.payload_handlers.values():
                with_payload(None)

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None
