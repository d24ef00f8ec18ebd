"""At most one timeline write per chat per window, however many messages a chat sees (issue 14, SYNC-02).

With the resource-specific permission ChatMessage.Read.Chat the bot receives every message in its chats. The first
message of a quiet chat is recorded at once; later ones within the window are folded into a single write at the
window's end carrying the latest sender and time, so a burst of 100 messages costs two writes, not 100, and the
timeline still ends on the true last sender. A message that wrote nothing (an unconnected or unsynced chat) opens
no window. Per process: replicas each keep their own window."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime

from domain.results import ChatContext

log = logging.getLogger(__name__)
Write = Callable[[ChatContext, datetime], Awaitable[bool]]  # True when it wrote something
WINDOW = 5.0
_PRUNE_AT = 10_000


class ActivityPacer:
    def __init__(self, write: Write, window: float = WINDOW, clock: Callable[[], float] = time.monotonic) -> None:
        self._write, self._window, self._clock = write, window, clock
        self._last: dict[tuple[str, str], float] = {}
        self._pending: dict[tuple[str, str], tuple[ChatContext, datetime]] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def seen(self, ctx: ChatContext, at: datetime) -> None:
        key = (ctx.tenant_id, ctx.conversation_id)
        now = self._clock()
        last = self._last.get(key)
        if last is None or now - last >= self._window:
            if await self._write(ctx, at):
                self._last[key] = now
                self._prune(now)
            return
        first = key not in self._pending
        self._pending[key] = (ctx, at)  # the latest message wins
        if first:
            task = asyncio.create_task(self._flush_later(key, last + self._window - now))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _flush_later(self, key: tuple[str, str], delay: float) -> None:
        await asyncio.sleep(max(0.0, delay))
        ctx, at = self._pending.pop(key)
        self._last[key] = self._clock()
        try:
            await self._write(ctx, at)
        except Exception:  # a background write has no caller to tell; the next message tries again
            log.exception("timeline activity for chat %s could not be recorded", key[1])

    def _prune(self, now: float) -> None:
        if len(self._last) > _PRUNE_AT:
            self._last = {k: t for k, t in self._last.items() if now - t < self._window or k in self._pending}

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
