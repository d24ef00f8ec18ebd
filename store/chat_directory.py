"""domain.chat_names.ChatDirectory on SQL: chat topics and member-derived names beside the conversation reference,
and who was seen in which chat. A rename rewrites the stored name of the chat's connections, so every list,
the record page and the audit show the chat as Teams does without a join on each read."""
from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime

from domain.chat_names import NAME_MAX, KnownChat, display_name, members_title
from store.chat_cache import for_database
from store.connections import announce, iso
from store.db import Database

SEEN_EVERY = 600.0  # seconds: a person's activity in a chat is written at most this often
_NAME = "CASE WHEN title <> '' THEN title ELSE members_title END"


class SqlChatDirectory:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = for_database(db)  # a rename rewrites the chat's connections
        # Messages arrive far more often than membership changes: remember recent writes in this process.
        self._recently: dict[tuple[str, str, str], float] = {}

    async def rename(self, tenant_id: str, chat_id: str, topic: str) -> bool:
        topic = topic.strip()[:NAME_MAX]
        try:
            async with self._db.transaction() as tx:
                row = await tx.fetchrow("SELECT title, members_title FROM conversations WHERE tenant_id = $1 "
                                        "AND chat_id = $2", tenant_id, chat_id)
                if row is None or row["title"] == topic:
                    return False
                await tx.execute("UPDATE conversations SET title = $3 WHERE tenant_id = $1 AND chat_id = $2",
                                 tenant_id, chat_id, topic)
                await _rename_connections(tx, tenant_id, chat_id, display_name(topic, row["members_title"]))
        finally:
            self._cache.forget(tenant_id, chat_id)
        return True

    async def set_members(self, tenant_id: str, chat_id: str, members: Sequence[tuple[str, str]],
                          at: datetime) -> None:
        wanted = {aad.lower() for aad, _ in members if aad}
        title = members_title([name for _, name in members])
        try:
            await self._set_members(tenant_id, chat_id, title, wanted, at)
        finally:
            self._cache.forget(tenant_id, chat_id)

    async def _set_members(self, tenant_id: str, chat_id: str, title: str, wanted: set[str], at: datetime) -> None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT title FROM conversations WHERE tenant_id = $1 AND chat_id = $2",
                                    tenant_id, chat_id)
            if row is None:
                return
            await tx.execute("UPDATE conversations SET members_title = $3 WHERE tenant_id = $1 AND chat_id = $2",
                             tenant_id, chat_id, title)
            if not row["title"]:
                await _rename_connections(tx, tenant_id, chat_id, display_name("", title))
            known = {r["aad_object_id"] for r in await tx.fetch(
                "SELECT aad_object_id FROM chat_members WHERE tenant_id = $1 AND chat_id = $2", tenant_id, chat_id)}
            for gone in known - wanted:
                await tx.execute("DELETE FROM chat_members WHERE tenant_id = $1 AND chat_id = $2 "
                                 "AND aad_object_id = $3", tenant_id, chat_id, gone)
            for aad in wanted - known:
                await tx.execute("INSERT INTO chat_members (tenant_id, chat_id, aad_object_id, seen_at) "
                                 "VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING", tenant_id, chat_id, aad, iso(at))

    async def seen(self, tenant_id: str, chat_id: str, aad_object_id: str, at: datetime) -> bool:
        key = (tenant_id, chat_id, aad_object_id.lower())
        now = time.monotonic()
        if key in self._recently and now - self._recently[key] < SEEN_EVERY:
            return False
        if len(self._recently) > 50_000:
            self._recently.clear()
        self._recently[key] = now
        await self._db.execute(
            "INSERT INTO chat_members (tenant_id, chat_id, aad_object_id, seen_at) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (tenant_id, chat_id, aad_object_id) DO UPDATE SET seen_at = excluded.seen_at", *key, iso(at))
        return True

    async def left(self, tenant_id: str, chat_id: str, aad_object_id: str) -> None:
        key = (tenant_id, chat_id, aad_object_id.lower())
        self._recently.pop(key, None)
        await self._db.execute("DELETE FROM chat_members WHERE tenant_id = $1 AND chat_id = $2 "
                               "AND aad_object_id = $3", *key)

    async def forget_members(self, tenant_id: str, chat_id: str) -> None:
        self._recently = {k: v for k, v in self._recently.items() if k[:2] != (tenant_id, chat_id)}
        await self._db.execute("DELETE FROM chat_members WHERE tenant_id = $1 AND chat_id = $2", tenant_id, chat_id)

    async def is_member(self, tenant_id: str, chat_id: str, aad_object_id: str) -> bool:
        row = await self._db.fetchrow("SELECT 1 AS yes FROM chat_members WHERE tenant_id = $1 AND chat_id = $2 "
                                      "AND aad_object_id = $3", tenant_id, chat_id, aad_object_id.lower())
        return row is not None

    async def names(self, tenant_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(chat_ids))[:1000]
        if not ids:
            return {}
        marks = ", ".join(f"${i}" for i in range(2, len(ids) + 2))
        rows = await self._db.fetch(f"SELECT chat_id, {_NAME} AS name FROM conversations WHERE tenant_id = $1 "
                                    f"AND chat_id IN ({marks})", tenant_id, *ids)
        return {r["chat_id"]: r["name"] for r in rows if r["name"]}

    async def recent(self, tenant_id: str, aad_object_id: str, limit: int = 20) -> Sequence[KnownChat]:
        rows = await self._db.fetch(
            "SELECT m.chat_id, m.seen_at, c.title, c.members_title FROM chat_members m JOIN conversations c "
            "ON c.tenant_id = m.tenant_id AND c.chat_id = m.chat_id WHERE m.tenant_id = $1 "
            "AND m.aad_object_id = $2 AND c.bot_removed_at IS NULL ORDER BY m.seen_at DESC LIMIT $3",
            tenant_id, aad_object_id.lower(), max(1, min(limit, 100)))
        return [KnownChat(r["chat_id"], display_name(r["title"], r["members_title"]),
                          datetime.fromisoformat(r["seen_at"])) for r in rows]


async def _rename_connections(tx: Database, tenant_id: str, chat_id: str, name: str) -> None:
    if await tx.execute("UPDATE connections SET chat_title = $3 WHERE tenant_id = $1 AND chat_id = $2",
                        tenant_id, chat_id, name):
        await announce(tx, tenant_id, chat_id)
