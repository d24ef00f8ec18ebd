"""The durable outbox (domain.ports.Outbox) on SQLite or PostgreSQL.

Work is accepted with its inbox row in one transaction, so a duplicate webhook adds nothing and an accepted one
is never lost. Claiming moves a row's `not_before` to the end of a lease: a crashed worker's rows fall due again
when the lease ends, and while it lasts no other worker sees them. PostgreSQL claims with FOR UPDATE SKIP LOCKED so
replicas never wait on or take each other's rows; SQLite claims inside BEGIN IMMEDIATE (one writer at a time).
States: pending -> done | dead (bounded attempts spent, or a permanent error) | skipped (the bot is not in the chat).
"""
from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.model import ConversationRef
from store import send_blocks
from store.connections import iso
from store.db import Database, Row, placeholders
from store.wakeups import OUTBOX_CHANNEL

LEASE = timedelta(seconds=20)
KEEP_SENT = timedelta(hours=2)  # sent rows stay a little over the longest pacing window (1 h) for its seeding
KEEP_INBOX = timedelta(days=7)  # Dataverse retries a failed webhook within hours; a week is ample
STATES = ("pending", "done", "dead", "skipped")
_ITEM_COLS = "id, tenant_id, chat_id, record_type, record_id, payload, attempts, not_before, created_at"
_CLAIM_PG = "FOR UPDATE SKIP LOCKED"


def utc(at: datetime) -> str:
    return iso(at.astimezone(UTC))


class SqlOutbox:
    def __init__(self, db: Database, lease: timedelta = LEASE) -> None:
        self._db = db
        self.lease = lease
        self._paced: set[str] = set()  # tenants whose tenant_pace row is known to exist

    async def accept(self, dedupe_key: str, items: Sequence[dict[str, Any]]) -> bool:
        """Inbox row and one outbox row per item in one transaction; False (and nothing added) for a duplicate."""
        now = utc(datetime.now(UTC))
        async with self._db.transaction() as tx:
            fresh = await tx.execute("INSERT INTO inbox (dedupe_key, accepted_at) VALUES ($1, $2) "
                                     "ON CONFLICT (dedupe_key) DO NOTHING", dedupe_key, now)
            if not fresh:
                return False
            if items:
                sql, args = _insert_items(dedupe_key, items, now)
                await tx.execute(sql, *args)
                await self._notify(tx)
        return True

    async def _notify(self, db: Database) -> None:
        """Wake every replica's worker (PostgreSQL delivers it when the transaction commits; none on rollback)."""
        if self._db.dialect == "postgresql":
            await db.execute(f"NOTIFY {OUTBOX_CHANNEL}")

    async def claim(self, worker: str, limit: int, now: datetime,
                    skip_tenants: Collection[str] = ()) -> Sequence[dict[str, Any]]:
        """Lease up to `limit` due rows to `worker`, oldest due first, leaving rows of `skip_tenants` (tenants
        whose send budget this worker already has enough rows for) to others or to later."""
        if limit <= 0:
            return []
        until = utc(now + self.lease)
        lock = _CLAIM_PG if self._db.dialect == "postgresql" else ""
        skip = f"AND o.tenant_id NOT IN ({placeholders(5, len(skip_tenants))}) " if skip_tenants else ""
        # Rows of a chat or tenant the Bot Connector told some replica to wait for stay here (store/send_blocks.py).
        sql = (f"UPDATE outbox SET claimed_by = $1, claimed_until = $2, not_before = $2 WHERE id IN ("
               f"SELECT o.id FROM outbox o WHERE o.state = 'pending' AND o.not_before <= $3 {skip}"
               f"AND {send_blocks.UNBLOCKED} ORDER BY o.not_before, o.id LIMIT $4 {lock}) RETURNING {_ITEM_COLS}")
        async with self._db.transaction() as tx:
            rows = await tx.fetch(sql, worker, until, utc(now), limit, *skip_tenants)
        return sorted((_item(r) for r in rows), key=lambda r: r["id"])

    async def done(self, item_id: int) -> None:
        await self.done_many([item_id], datetime.now(UTC))

    async def done_many(self, ids: Sequence[int], at: datetime) -> None:
        """Record a successful post. claimed_by is kept: it shows which worker delivered the row."""
        await self._set(ids, "state = 'done', sent_at = $1, claimed_until = NULL, last_error = ''", utc(at))

    async def retry(self, item_id: int, not_before: datetime, error: str) -> None:
        await self.retry_many([item_id], not_before, error)

    async def retry_many(self, ids: Sequence[int], not_before: datetime, error: str, worker: str | None = None
                         ) -> None:
        await self._set(ids, "attempts = attempts + 1, not_before = $1, last_error = $2, claimed_by = NULL, "
                             "claimed_until = NULL", utc(not_before), error[:500], pending=True, owner=worker)

    async def release(self, ids: Sequence[int], not_before: datetime, worker: str | None = None) -> None:
        """Hand rows back unsent without counting an attempt (pacing deferral, shutdown). With `worker`, only rows
        still leased to it: a row whose lease ran out may be another worker's by now."""
        await self._set(ids, "not_before = $1, claimed_by = NULL, claimed_until = NULL", utc(not_before),
                        pending=True, owner=worker)
        if ids and not_before <= datetime.now(UTC):  # due at once (a replica shutting down): another may take them
            await self._notify(self._db)

    async def renew(self, ids: Sequence[int], worker: str, now: datetime) -> set[int]:
        """Extend the lease of rows still leased to `worker` (waiting for their turn in a busy chat); the ids
        renewed. A row missing from the answer was finished meanwhile, or its lease ran out before."""
        until = utc(now + self.lease)
        renewed: set[int] = set()
        for start in range(0, len(ids), 1000):
            chunk = ids[start:start + 1000]
            rows = await self._db.fetch(
                f"UPDATE outbox SET claimed_until = $1, not_before = $1 WHERE id IN ({placeholders(4, len(chunk))}) "
                "AND claimed_by = $2 AND state = 'pending' AND claimed_until >= $3 RETURNING id",
                until, worker, utc(now), *chunk)
            renewed.update(int(r["id"]) for r in rows)
        return renewed

    async def dead(self, item_id: int, error: str) -> None:
        await self.dead_many([item_id], error)

    async def dead_many(self, ids: Sequence[int], error: str) -> None:
        await self._set(ids, "state = 'dead', attempts = attempts + 1, last_error = $1, claimed_until = NULL",
                        error[:500])

    async def skip(self, ids: Sequence[int], reason: str) -> None:
        await self._set(ids, "state = 'skipped', last_error = $1, claimed_until = NULL", reason[:500])

    async def _set(self, ids: Sequence[int], assignments: str, *args: Any, pending: bool = False,
                   owner: str | None = None) -> None:
        """Change rows by id; `pending`: only rows not yet finished; `owner`: only those still leased to it."""
        if not ids:
            return
        where = ""
        if pending or owner is not None:
            where += " AND state = 'pending'"
        if owner is not None:
            args = (*args, owner)
            where += f" AND claimed_by = ${len(args)}"
        await self._db.execute(f"UPDATE outbox SET {assignments} WHERE id IN "
                               f"({placeholders(len(args) + 1, len(ids))}){where}", *args, *ids)

    async def sent_times(self, chat_ids: Collection[str], since: datetime) -> dict[str, list[datetime]]:
        """When these chats were last posted to (by any replica), to seed pacing: one query for a claimed batch."""
        if not chat_ids:
            return {}
        rows = await self._db.fetch(f"SELECT chat_id, sent_at FROM outbox WHERE sent_at >= $1 AND chat_id IN "
                                    f"({placeholders(2, len(chat_ids))}) ORDER BY sent_at", utc(since), *chat_ids)
        out: dict[str, list[datetime]] = {}
        for row in rows:
            out.setdefault(row["chat_id"], []).append(datetime.fromisoformat(row["sent_at"]))
        return out

    async def conversations(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], ConversationRef]:
        """Where to post, for every (tenant, chat) of a claimed batch in one query; chats the bot left are absent."""
        if not keys:
            return {}
        pairs = ", ".join(f"(${2 * i + 1}, ${2 * i + 2})" for i in range(len(keys)))
        rows = await self._db.fetch(f"SELECT tenant_id, chat_id, service_url, bot_id FROM conversations WHERE "
                                    f"(tenant_id, chat_id) IN ({pairs}) AND bot_removed_at IS NULL",
                                    *(part for key in keys for part in key))
        return {(r["tenant_id"], r["chat_id"]): ConversationRef(r["service_url"], r["chat_id"], r["tenant_id"],
                                                                r["bot_id"]) for r in rows}

    async def next_due(self) -> datetime | None:
        """When the earliest pending row falls due (a retry's backoff, a lease running out): the worker sleeps
        until then rather than polling for it."""
        row = await self._db.fetchrow("SELECT MIN(not_before) AS due FROM outbox WHERE state = 'pending'")
        return datetime.fromisoformat(row["due"]) if row and row["due"] else None

    async def counts(self) -> dict[str, Any]:
        rows = await self._db.fetch("SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox "
                                    "GROUP BY state")
        out: dict[str, Any] = dict.fromkeys(STATES, 0)
        out.update({r["state"]: int(r["n"]) for r in rows})
        oldest = next((r["oldest"] for r in rows if r["state"] == "pending"), None)
        age = (datetime.now(UTC) - datetime.fromisoformat(oldest)).total_seconds() if oldest else 0.0
        out["oldest_pending_seconds"] = round(max(0.0, age), 3)
        return out

    @property
    def shared_pace(self) -> bool:
        """PostgreSQL: every replica draws on one per-tenant send pace (tenant_slot). SQLite has one process."""
        return self._db.dialect == "postgresql"

    async def tenant_slot(self, tenant_id: str, delay: float, spacing: float, hold: float) -> tuple[bool, float]:
        """Reserve the tenant's next send moment, shared by all replicas: at least `delay` s from now and `spacing`
        s after the last moment any replica reserved. (True, seconds until it), or (False, seconds until the first
        free moment) when that lies more than `hold` s ahead, reserving nothing. The database's clock decides."""
        if tenant_id not in self._paced:
            await self._db.execute("INSERT INTO tenant_pace (tenant_id, next_at) VALUES ($1, 0) "
                                   "ON CONFLICT (tenant_id) DO NOTHING", tenant_id)
            self._paced.add(tenant_id)
        row = await self._db.fetchrow(
            "WITH t AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now) "
            "UPDATE tenant_pace p SET next_at = GREATEST(p.next_at, t.now + $2) + $3 FROM t "
            "WHERE p.tenant_id = $1 AND GREATEST(p.next_at, t.now + $2) - t.now <= $4 "
            "RETURNING p.next_at - $3 - t.now AS wait", tenant_id, delay, spacing, hold)
        if row is not None:
            return True, max(0.0, float(row["wait"]))
        row = await self._db.fetchrow(
            "SELECT GREATEST(next_at, extract(epoch FROM clock_timestamp())::float8 + $2) "
            "- extract(epoch FROM clock_timestamp())::float8 AS wait FROM tenant_pace WHERE tenant_id = $1",
            tenant_id, delay)
        return False, float(row["wait"]) if row else delay

    async def depth(self) -> dict[str, tuple[int, float]]:
        """Items and the oldest item's age in seconds, per state (for the outbox metrics)."""
        rows = await self._db.fetch("SELECT state, COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox "
                                    "GROUP BY state")
        now, out = datetime.now(UTC), dict.fromkeys(STATES, (0, 0.0))
        for r in rows:
            age = (now - datetime.fromisoformat(r["oldest"])).total_seconds() if r["oldest"] else 0.0
            out[r["state"]] = (int(r["n"]), round(max(0.0, age), 3))
        return out

    async def items(self, state: str, limit: int = 100) -> list[Row]:
        return await self._db.fetch(
            "SELECT id, tenant_id, chat_id, record_type, record_id, state, attempts, last_error, claimed_by, "
            "created_at, sent_at FROM outbox WHERE state = $1 ORDER BY id LIMIT $2", state, limit)

    async def purge(self, now: datetime) -> int:
        """Forget delivered and skipped rows after KEEP_SENT, inbox keys after KEEP_INBOX and ended send blocks;
        dead rows stay."""
        n = await self._db.execute("DELETE FROM outbox WHERE state IN ('done', 'skipped') AND created_at < $1",
                                   utc(now - KEEP_SENT))
        n += await self._db.execute("DELETE FROM inbox WHERE accepted_at < $1", utc(now - KEEP_INBOX))
        return n + await send_blocks.purge(self._db, now)

    async def block(self, tenant_id: str, chat_id: str, until: datetime) -> datetime | None:
        """The Bot Connector said wait: nothing goes to this chat (from any replica) before `until`; the end of a
        block of the whole tenant when this made one (store/send_blocks.py)."""
        return await send_blocks.record(self._db, tenant_id, chat_id, until, datetime.now(UTC))

    async def blocks(self, now: datetime) -> list[tuple[str, str, datetime]]:
        return await send_blocks.active(self._db, now)


def _insert_items(dedupe_key: str, items: Sequence[dict[str, Any]], now: str) -> tuple[str, list[Any]]:
    """One multi-row INSERT: K connected chats cost one statement, not K."""
    rows: list[str] = []
    args: list[Any] = []
    for item in items:
        payload = item["payload"] if isinstance(item["payload"], str) else json.dumps(item["payload"])
        key = f"{dedupe_key}#{item['tenant_id']}#{item['chat_id']}" + (f"#{item['part']}" if item.get("part") else "")
        values = [key, item["tenant_id"], item["chat_id"], item["record_type"], item["record_id"], payload, now, now]
        rows.append(f"({placeholders(len(args) + 1, len(values))}, 'pending')")
        args += values
    sql = ("INSERT INTO outbox (dedupe_key, tenant_id, chat_id, record_type, record_id, payload, not_before, "
           f"created_at, state) VALUES {', '.join(rows)} ON CONFLICT (dedupe_key) DO NOTHING")
    return sql, args


def _item(row: Row) -> dict[str, Any]:
    return dict(row, id=int(row["id"]), attempts=int(row["attempts"]), payload=json.loads(row["payload"]))
