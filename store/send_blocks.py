"""Waits the Bot Connector imposed (429 with Retry-After), kept in the database so that every replica on it, and
every process on one SQLite file, honours them: a `send_blocks` row per throttled conversation, and one with
chat_id '' when the whole tenant is to wait (the rule is in notify/throttle.py).

Read cheaply: the outbox claim leaves rows of a blocked chat or tenant in the table (UNBLOCKED, one NOT EXISTS
probe of the primary key inside the claim's own statement), so no post costs a query. Rows a replica already
holds are covered on PostgreSQL by a NOTIFY in the recording transaction (channel BLOCKS_CHANNEL, payload
[tenant, chat, until as epoch seconds]) that every replica's worker applies in memory. Expired rows are ignored at
once and deleted by the outbox purge."""
from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from store.connections import iso
from store.db import Database
from store.wakeups import BLOCKS_CHANNEL

TENANT = ""  # chat_id of the row that blocks a whole tenant
TENANT_CHATS = 3  # conversations of one tenant throttled within TENANT_WINDOW: the tenant's budget is the cause
TENANT_WINDOW = timedelta(seconds=10)
_LOCK_KEY = 7_202_612  # the advisory lock class for recording blocks (migrations use 7_202_611)
# The claim's filter on an outbox row `o` ($3: now). chat_id IN (o.chat_id, '') covers the chat and its tenant.
UNBLOCKED = ("NOT EXISTS (SELECT 1 FROM send_blocks b WHERE b.tenant_id = o.tenant_id "
             "AND b.chat_id IN (o.chat_id, '') AND b.until > $3)")
_UPSERT = ("INSERT INTO send_blocks (tenant_id, chat_id, since, until) VALUES ($1, $2, $3, $4) "
           "ON CONFLICT (tenant_id, chat_id) DO UPDATE SET since = excluded.since, "
           "until = CASE WHEN excluded.until > send_blocks.until THEN excluded.until ELSE send_blocks.until END")


def _utc(at: datetime) -> str:
    return iso(at.astimezone(UTC))  # one format everywhere: the text compares like the time


async def record(db: Database, tenant_id: str, chat_id: str, until: datetime, now: datetime) -> datetime | None:
    """Block the chat until `until` (an earlier end never shortens a later one). When TENANT_CHATS chats of the
    tenant have been blocked within TENANT_WINDOW, block the tenant too, until the latest of their ends, and
    return that end (None otherwise). On PostgreSQL every replica hears of each block when this commits."""
    tenant_until: datetime | None = None
    async with db.transaction() as tx:
        if db.dialect == "postgresql":  # one tenant's blocks recorded one at a time, so each sees the ones before
            await tx.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_KEY, tenant_id)
        await tx.execute(_UPSERT, tenant_id, chat_id, _utc(now), _utc(until))
        row = await tx.fetchrow("SELECT COUNT(*) AS n, MAX(until) AS last FROM send_blocks WHERE tenant_id = $1 "
                                "AND chat_id <> '' AND since >= $2", tenant_id, _utc(now - TENANT_WINDOW))
        if row and int(row["n"]) >= TENANT_CHATS and row["last"] > _utc(now):
            tenant_until = datetime.fromisoformat(row["last"])
            await tx.execute(_UPSERT, tenant_id, TENANT, _utc(now), row["last"])
        if db.dialect == "postgresql":
            for chat, end in ((chat_id, until), (TENANT, tenant_until)):
                if end is not None:
                    await tx.execute("SELECT pg_notify($1, $2)", BLOCKS_CHANNEL,
                                     json.dumps([tenant_id, chat, end.timestamp()]))
    return tenant_until


async def active(db: Database, now: datetime) -> list[tuple[str, str, datetime]]:
    """Every block still running: (tenant, chat or '' for the tenant, until). Read after a lost LISTEN."""
    rows = await db.fetch("SELECT tenant_id, chat_id, until FROM send_blocks WHERE until > $1", _utc(now))
    return [(r["tenant_id"], r["chat_id"], datetime.fromisoformat(r["until"])) for r in rows]


async def purge(db: Database, now: datetime) -> int:
    """Forget blocks that ended before the tenant rule's window (until then they still count towards it)."""
    return await db.execute("DELETE FROM send_blocks WHERE until < $1", _utc(now - TENANT_WINDOW))


def parse(payload: str | None) -> tuple[str, str, float] | None:
    """A BLOCKS_CHANNEL payload as (tenant, chat, until epoch seconds); None when it is not one."""
    try:
        tenant, chat, until = json.loads(payload or "")
        return str(tenant), str(chat), float(until)
    except (ValueError, TypeError):
        return None
