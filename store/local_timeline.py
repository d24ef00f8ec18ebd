"""The local directory's timeline, kept in the service's database so it survives restarts and is shared by
replicas: one row per chat linked to a record while timeline sync was on (SYNC-01..03). Never message text."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.model import TimelineChat
from store.connections import iso
from store.db import Database, Row


def _item(row: Row) -> TimelineChat:
    def at(value: str | None) -> datetime | None:
        return datetime.fromisoformat(value) if value else None

    return TimelineChat(chat_id=row["chat_id"], linked_by=row["linked_by"],
                        linked_on=datetime.fromisoformat(row["linked_on"]), linked=row["unlinked_on"] is None,
                        unlinked_on=at(row["unlinked_on"]), last_sender=row["last_sender"],
                        last_message_on=at(row["last_message_on"]))


class SqlLocalTimeline:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, record_type: str, record_id: str, chat_id: str, linked_by: str, at: datetime) -> None:
        await self._db.execute(
            "INSERT INTO local_timeline (record_type, record_id, chat_id, linked_by, linked_on) "
            "VALUES ($1, $2, $3, $4, $5)", record_type, record_id, chat_id, linked_by, iso(at))

    async def unlink(self, record_type: str, record_id: str, chat_id: str, at: datetime) -> None:
        await self._db.execute(
            "UPDATE local_timeline SET unlinked_on = $1 WHERE record_type = $2 AND record_id = $3 AND chat_id = $4 "
            "AND unlinked_on IS NULL", iso(at), record_type, record_id, chat_id)

    async def touch(self, record_type: str, record_id: str, chat_id: str, sender: str, at: datetime) -> None:
        # A late, reordered message never moves "last message" back in time.
        await self._db.execute(
            "UPDATE local_timeline SET last_sender = $1, last_message_on = $2 WHERE record_type = $3 "
            "AND record_id = $4 AND chat_id = $5 AND unlinked_on IS NULL "
            "AND (last_message_on IS NULL OR last_message_on <= $2)", sender, iso(at), record_type, record_id, chat_id)

    async def for_record(self, record_type: str, record_id: str) -> Sequence[TimelineChat]:
        rows = await self._db.fetch(
            "SELECT chat_id, linked_by, linked_on, unlinked_on, last_sender, last_message_on FROM local_timeline "
            "WHERE record_type = $1 AND record_id = $2 ORDER BY linked_on DESC, id DESC", record_type, record_id)
        return [_item(r) for r in rows]
