"""Record <-> chat connections. The partial unique index on active rows makes connect idempotent and race-safe.
A chat's active connections are cached (store/chat_cache.py): every write here drops its chat, and on PostgreSQL
NOTIFYs the other replicas in the same transaction."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from domain.model import Connection, ConversationRef, State
from store.chat_cache import CONNECTIONS_CHANNEL, for_database, notify_payload
from store.db import Database, Row

_COLS = ("id, tenant_id, record_type, record_id, chat_id, state, connected_by, connected_at, "
         "disconnected_by, disconnected_at, chat_title, synced")


def iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def _conn(row: Row) -> Connection:
    return Connection(
        id=int(row["id"]), tenant_id=row["tenant_id"], record_type=row["record_type"], record_id=row["record_id"],
        chat_id=row["chat_id"], state=State(row["state"]), connected_by=row["connected_by"],
        connected_at=datetime.fromisoformat(row["connected_at"]), disconnected_by=row["disconnected_by"],
        disconnected_at=datetime.fromisoformat(row["disconnected_at"]) if row["disconnected_at"] else None,
        chat_title=row["chat_title"], synced=bool(row["synced"]))


async def announce(tx: Database, tenant_id: str, chat_id: str) -> None:
    """Inside the transaction that writes a chat's connections: other replicas drop the chat once it commits."""
    if tx.dialect == "postgresql":
        await tx.execute("SELECT pg_notify($1, $2)", CONNECTIONS_CHANNEL, notify_payload(tenant_id, chat_id))


class SqlConnectionStore:
    def __init__(self, db: Database, cached_reads: bool = True) -> None:
        """`cached_reads=False`: for_chat always asks the database (bench/store_bench.py times the SQL)."""
        self._db = db
        self._cache = for_database(db)
        self._cached_reads = cached_reads

    async def _write(self, tenant_id: str, chat_id: str, sql: str, *args: object) -> Row | None:
        """One statement changing a chat's connections; the chat's cached rows are dropped once it commits."""
        try:
            if self._db.dialect != "postgresql":
                return await self._db.fetchrow(sql, *args)
            async with self._db.transaction() as tx:
                row = await tx.fetchrow(sql, *args)
                if row is not None:
                    await announce(tx, tenant_id, chat_id)
                return row
        finally:
            self._cache.forget(tenant_id, chat_id)

    async def connect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str,
                      user_id: str, at: datetime, chat_title: str = "") -> tuple[Connection, bool]:
        row = await self._write(
            tenant_id, chat_id,
            f"INSERT INTO connections (tenant_id, record_type, record_id, chat_id, state, connected_by, "
            f"connected_at, chat_title) VALUES ($1, $2, $3, $4, 'connected', $5, $6, COALESCE(NULLIF($7, ''), "
            f"(SELECT CASE WHEN title <> '' THEN title ELSE members_title END FROM conversations "
            f"WHERE tenant_id = $1 AND chat_id = $4), '')) "
            f"ON CONFLICT (tenant_id, record_type, record_id, chat_id) WHERE state = 'connected' DO NOTHING "
            f"RETURNING {_COLS}", tenant_id, record_type, record_id, chat_id, user_id, iso(at), chat_title)
        if row:
            return _conn(row), True
        existing = await self.active(tenant_id, record_type, record_id, chat_id)
        if existing is None:  # disconnected between our insert and read: try once more
            return await self.connect(tenant_id, record_type, record_id, chat_id, user_id, at, chat_title)
        return existing, False

    async def disconnect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str,
                         user_id: str, at: datetime) -> Connection | None:
        row = await self._write(
            tenant_id, chat_id,
            f"UPDATE connections SET state = 'disconnected', disconnected_by = $5, disconnected_at = $6 "
            f"WHERE tenant_id = $1 AND record_type = $2 AND record_id = $3 AND chat_id = $4 "
            f"AND state = 'connected' RETURNING {_COLS}", tenant_id, record_type, record_id, chat_id, user_id, iso(at))
        return _conn(row) if row else None

    async def active(self, tenant_id: str, record_type: str, record_id: str, chat_id: str) -> Connection | None:
        row = await self._db.fetchrow(
            f"SELECT {_COLS} FROM connections WHERE tenant_id = $1 AND record_type = $2 AND record_id = $3 "
            f"AND chat_id = $4 AND state = 'connected'", tenant_id, record_type, record_id, chat_id)
        return _conn(row) if row else None

    async def for_chat(self, tenant_id: str, chat_id: str) -> Sequence[Connection]:
        key = (tenant_id, chat_id)
        cached = self._cache.get(key) if self._cached_reads else None
        if cached is not None:
            return list(cached)
        generation = self._cache.generation
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM connections WHERE tenant_id = $1 AND chat_id = $2 AND state = 'connected' "
            f"ORDER BY connected_at, id LIMIT 200", tenant_id, chat_id)
        found = [_conn(r) for r in rows]
        if self._cached_reads:
            self._cache.put(key, found, generation)
        return found

    async def for_record(self, tenant_id: str, record_type: str, record_id: str,
                         include_history: bool = False) -> Sequence[Connection]:
        where = "" if include_history else " AND state = 'connected'"
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM connections WHERE tenant_id = $1 AND record_type = $2 AND record_id = $3"
            f"{where} ORDER BY connected_at, id LIMIT 500", tenant_id, record_type, record_id)
        return [_conn(r) for r in rows]

    async def for_record_any_tenant(self, record_type: str, record_id: str,
                                    include_history: bool = False) -> Sequence[Connection]:
        """Active connections of a record in every tenant (a CRM webhook does not say which Teams tenant)."""
        where = "" if include_history else " AND state = 'connected'"
        rows = await self._db.fetch(
            f"SELECT {_COLS} FROM connections WHERE record_type = $1 AND record_id = $2{where} "
            f"ORDER BY connected_at, id LIMIT 500", record_type, record_id)
        return [_conn(r) for r in rows]

    async def last_connector(self, tenant_id: str, record_type: str, record_id: str, chat_id: str) -> str | None:
        row = await self._db.fetchrow(
            "SELECT connected_by FROM connections WHERE tenant_id = $1 AND record_type = $2 AND record_id = $3 "
            "AND chat_id = $4 ORDER BY connected_at DESC, id DESC LIMIT 1", tenant_id, record_type, record_id, chat_id)
        return row["connected_by"] if row else None

    async def save_conversation(self, ref: ConversationRef, title: str = "") -> None:
        # Only what is needed to post later; a returning bot clears the removed mark and is added anew.
        await self._db.execute(
            "INSERT INTO conversations (tenant_id, chat_id, service_url, bot_id, title, bot_added_at) "
            "VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (tenant_id, chat_id) DO UPDATE SET service_url = excluded.service_url, "
            "bot_id = excluded.bot_id, bot_removed_at = NULL, "
            "bot_added_at = CASE WHEN conversations.bot_removed_at IS NULL THEN conversations.bot_added_at "
            "ELSE excluded.bot_added_at END, "
            "title = CASE WHEN excluded.title = '' THEN conversations.title ELSE excluded.title END",
            ref.tenant_id, ref.conversation_id, ref.service_url, ref.bot_id, title, iso(datetime.now(UTC)))

    async def conversation(self, tenant_id: str, chat_id: str) -> ConversationRef | None:
        row = await self._db.fetchrow(
            "SELECT service_url, bot_id FROM conversations WHERE tenant_id = $1 AND chat_id = $2 "
            "AND bot_removed_at IS NULL", tenant_id, chat_id)
        return ConversationRef(row["service_url"], chat_id, tenant_id, row["bot_id"]) if row else None

    async def mark_bot_removed(self, tenant_id: str, chat_id: str, at: datetime) -> None:
        await self._db.execute("UPDATE conversations SET bot_removed_at = $3 WHERE tenant_id = $1 AND chat_id = $2",
                               tenant_id, chat_id, iso(at))

    async def mark_synced(self, connection_id: int) -> None:
        row = await self._db.fetchrow("SELECT tenant_id, chat_id FROM connections WHERE id = $1", connection_id)
        if row is not None:
            await self._write(row["tenant_id"], row["chat_id"],
                              "UPDATE connections SET synced = 1 WHERE id = $1 RETURNING id", connection_id)
