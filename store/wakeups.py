"""Cross-replica wake-ups on PostgreSQL: the outbox NOTIFYs `OUTBOX_CHANNEL` in the transaction that accepts work
(delivered only when it commits), and every replica LISTENs on a dedicated asyncpg connection (a pooled one would
drop its LISTEN on release) and wakes its delivery worker. A notification can be missed while that connection is
down, so after reconnecting it wakes once, and the worker keeps a slow fallback poll."""
from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)
OUTBOX_CHANNEL = "connected_chats_outbox"
RECONNECT_EVERY = 2.0  # seconds between attempts while the database is away


class PgWakeups:
    def __init__(self, url: str, on_wake: Callable[[], None]) -> None:
        self.url, self.on_wake = url, on_wake
        self._conn: Any = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """LISTEN before returning (work committed from now on wakes this replica), then keep the connection."""
        with contextlib.suppress(Exception):
            await self._connect()
        if self._conn is None:
            self._lost.set()
        self._task = asyncio.create_task(self._keep(), name="outbox LISTEN")

    async def _connect(self) -> None:
        import asyncpg
        conn = await asyncpg.connect(self.url, timeout=10)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(OUTBOX_CHANNEL, self._notified)
        self._conn = conn
        self._lost.clear()

    def _notified(self, *_args: Any) -> None:
        self.on_wake()

    async def _keep(self) -> None:
        while True:
            await self._lost.wait()
            self._conn = None
            try:
                await self._connect()
            except Exception as exc:  # the fallback poll carries on meanwhile
                log.warning("outbox LISTEN connection failed (%s); retrying in %.0f s", exc, RECONNECT_EVERY)
                await asyncio.sleep(RECONNECT_EVERY)
                continue
            self.on_wake()  # whatever was committed while we were not listening

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None
