"""The outbox rows one worker holds: claimed in batches, leased, their leases renewed while they wait for their turn
in a busy chat or tenant, and what was learned about their chats when they were claimed.

A row may be posted only while its lease surely outlasts the post (`deadline`); past that another worker could
claim it, so it is handed back unposted. Renewing every few seconds keeps waiting rows inside their lease."""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from domain.model import ConversationRef
from domain.ports import Outbox
from notify.pacing import CONVERSATION, Pacer

Row = dict[str, Any]
POST_TIMEOUT = 10.0  # a post that takes longer is abandoned (and retried like a 504)
RENEW_EVERY = 5.0
PER_TENANT = 250  # rows of one tenant held at once (about 5 s of its 50/s budget); more stay in the table


class Claims:
    def __init__(self, outbox: Outbox, pacer: Pacer, worker: str, max_held: int) -> None:
        self.outbox, self.pacer, self.worker, self.max_held = outbox, pacer, worker, max_held
        self.rows: dict[int, Row] = {}
        self.per_tenant: Counter[str] = Counter()

    def room(self) -> int:
        return self.max_held - len(self.rows)

    async def claim(self, limit: int) -> list[Row]:
        """Lease up to `limit` due rows of tenants not yet at their cap (the cap may be passed by one batch)."""
        started = time.monotonic()
        full = [t for t, n in self.per_tenant.items() if n >= PER_TENANT]
        rows = list(await self.outbox.claim(self.worker, limit, datetime.now(UTC), full))
        refs = await self._prepare(rows)
        for row in rows:
            row["_claimed"] = row["_leased"] = started
            row["_ref"] = refs.get((row["tenant_id"], row["chat_id"]))
            self.rows[row["id"]] = row
            self.per_tenant[row["tenant_id"]] += 1
        return rows

    async def _prepare(self, rows: Sequence[Row]) -> dict[tuple[str, str], ConversationRef]:
        """Two queries per batch rather than two per row: where each chat is (absent when the bot left it), and
        what was posted lately to chats this process hasn't paced yet (after a restart, by another replica)."""
        if not rows:
            return {}
        refs = await self.outbox.conversations({(r["tenant_id"], r["chat_id"]) for r in rows})
        fresh = {r["chat_id"] for r in rows if not self.pacer.known(r["chat_id"])}
        wall, mono = datetime.now(UTC), time.monotonic()
        horizon = max(span for span, _ in CONVERSATION)
        sent = await self.outbox.sent_times(fresh, wall - timedelta(seconds=horizon))
        for chat in fresh:
            self.pacer.conversation(chat).seed(mono - (wall - t).total_seconds() for t in sent.get(chat, ()))
        return refs

    def deadline(self, rows: Sequence[Row]) -> float:
        """Until when a post of these rows surely finishes inside their lease (with a second to spare).
        `_leased` is a monotonic time taken before the claim or renewal was sent, so the lease runs longer."""
        return min(r["_leased"] for r in rows) + self.outbox.lease.total_seconds() - POST_TIMEOUT - 1

    def drop(self, rows: Sequence[Row]) -> None:
        """Rows finished with (posted, retried, handed back): no longer held."""
        for row in rows:
            if self.rows.pop(row["id"], None) is not None:
                self.per_tenant[row["tenant_id"]] -= 1
                if self.per_tenant[row["tenant_id"]] <= 0:
                    del self.per_tenant[row["tenant_id"]]

    async def renew(self) -> None:
        if not self.rows:
            return
        started = time.monotonic()
        for row_id in await self.outbox.renew(list(self.rows), self.worker, datetime.now(UTC)):
            if row_id in self.rows:
                self.rows[row_id]["_leased"] = started

    async def release_all(self) -> None:
        await self.outbox.release(list(self.rows), datetime.now(UTC), self.worker)
        self.rows.clear()
        self.per_tenant.clear()
