"""domain.chat_names.ChatDirectory on SQL: chat topics and member-derived names beside the conversation reference
(names only: who is in a chat is not kept). A rename rewrites the stored name of the chat's connections, so every
list, the record page and the audit show the chat as Teams does without a join on each read."""
from __future__ import annotations

from collections.abc import Sequence

from domain.chat_names import NAME_MAX, BotChat, display_name, members_title
from domain.model import ConversationRef
from store.chat_cache import for_database
from store.connections import announce
from store.db import Database, Row

_NAME = "CASE WHEN title <> '' THEN title ELSE members_title END"
_IN_MAX = 1000  # chat ids in one IN list


class SqlChatDirectory:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache = for_database(db)  # a rename rewrites the chat's connections

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

    async def name_from_members(self, tenant_id: str, chat_id: str, names: Sequence[str]) -> None:
        try:
            await self._name(tenant_id, chat_id, members_title(names))
        finally:
            self._cache.forget(tenant_id, chat_id)  # an untitled chat's connections carry the new name

    async def _name(self, tenant_id: str, chat_id: str, title: str) -> None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT title FROM conversations WHERE tenant_id = $1 AND chat_id = $2",
                                    tenant_id, chat_id)
            if row is None:
                return
            await tx.execute("UPDATE conversations SET members_title = $3 WHERE tenant_id = $1 AND chat_id = $2",
                             tenant_id, chat_id, title)
            if not row["title"]:
                await _rename_connections(tx, tenant_id, chat_id, display_name("", title))

    async def names(self, tenant_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        ids = list(dict.fromkeys(chat_ids))[:_IN_MAX]
        if not ids:
            return {}
        rows = await self._db.fetch(f"SELECT chat_id, {_NAME} AS name FROM conversations WHERE tenant_id = $1 "
                                    f"AND chat_id IN ({_marks(len(ids))})", tenant_id, *ids)
        return {r["chat_id"]: r["name"] for r in rows if r["name"]}

    async def bot_chats(self, tenant_id: str, chat_ids: Sequence[str] | None = None,
                        limit: int = 30) -> Sequence[BotChat]:
        limit = max(1, min(limit, _IN_MAX))
        cols = "chat_id, service_url, bot_id, title, members_title"
        if chat_ids is not None:
            ids = list(dict.fromkeys(chat_ids))[:limit]
            if not ids:
                return []
            rows = await self._db.fetch(f"SELECT {cols} FROM conversations WHERE tenant_id = $1 AND "
                                        f"bot_removed_at IS NULL AND chat_id IN ({_marks(len(ids))})", tenant_id, *ids)
            found = {r["chat_id"]: _bot_chat(tenant_id, r) for r in rows}
            return [found[c] for c in ids if c in found]
        # Most recently active by what is kept anyway: when the bot was added, when a record was last connected.
        # Times are ISO strings in UTC, so they order as text in both databases.
        rows = await self._db.fetch(
            f"SELECT {cols} FROM (SELECT {cols}, COALESCE(bot_added_at, '') AS added, "
            f"(SELECT COALESCE(MAX(connected_at), '') FROM connections n WHERE n.tenant_id = v.tenant_id "
            f"AND n.chat_id = v.chat_id) AS connected FROM conversations v WHERE tenant_id = $1 "
            f"AND bot_removed_at IS NULL AND chat_id LIKE '%@thread.v2') c "
            f"ORDER BY CASE WHEN added > connected THEN added ELSE connected END DESC, chat_id LIMIT $2",
            tenant_id, limit)
        return [_bot_chat(tenant_id, r) for r in rows]


def _bot_chat(tenant_id: str, row: Row) -> BotChat:
    ref = ConversationRef(row["service_url"], row["chat_id"], tenant_id, row["bot_id"])
    return BotChat(ref, display_name(row["title"], row["members_title"]))


def _marks(count: int, first: int = 2) -> str:
    return ", ".join(f"${i}" for i in range(first, first + count))


async def _rename_connections(tx: Database, tenant_id: str, chat_id: str, name: str) -> None:
    if await tx.execute("UPDATE connections SET chat_title = $3 WHERE tenant_id = $1 AND chat_id = $2",
                        tenant_id, chat_id, name):
        await announce(tx, tenant_id, chat_id)
