"""Where the local directory keeps its timeline. The app hands it the database-backed store (store.local_timeline)
so the timeline persists with the service's state; on its own (scripts, unit use) it keeps it in memory."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Protocol

from domain.model import TimelineChat


class TimelineRows(Protocol):
    async def add(self, record_type: str, record_id: str, chat_id: str, linked_by: str, at: datetime) -> None: ...
    async def unlink(self, record_type: str, record_id: str, chat_id: str, at: datetime) -> None: ...
    async def touch(self, record_type: str, record_id: str, chat_id: str, sender: str, at: datetime) -> None: ...
    async def for_record(self, record_type: str, record_id: str) -> Sequence[TimelineChat]: ...


class MemoryTimeline:
    def __init__(self) -> None:
        self._items: list[tuple[str, str, TimelineChat]] = []

    async def add(self, record_type: str, record_id: str, chat_id: str, linked_by: str, at: datetime) -> None:
        self._items.append((record_type, record_id, TimelineChat(chat_id, linked_by, at)))

    async def unlink(self, record_type: str, record_id: str, chat_id: str, at: datetime) -> None:
        self._update(record_type, record_id, chat_id, lambda i: replace(i, linked=False, unlinked_on=at))

    async def touch(self, record_type: str, record_id: str, chat_id: str, sender: str, at: datetime) -> None:
        self._update(record_type, record_id, chat_id, lambda i: i if i.last_message_on and i.last_message_on > at
                     else replace(i, last_sender=sender, last_message_on=at))

    async def for_record(self, record_type: str, record_id: str) -> Sequence[TimelineChat]:
        found = [i for t, r, i in self._items if (t, r) == (record_type, record_id)]
        return sorted(found, key=lambda i: i.linked_on, reverse=True)

    def _update(self, record_type: str, record_id: str, chat_id: str, change: object) -> None:
        for n, (t, r, item) in enumerate(self._items):
            if (t, r, item.chat_id) == (record_type, record_id, chat_id) and item.linked:
                self._items[n] = (t, r, change(item))  # type: ignore[operator]
