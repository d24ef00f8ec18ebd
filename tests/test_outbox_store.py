"""store/outbox.py on SQLite and PostgreSQL: atomic accept with dedupe, claims that never overlap, leases that
expire and renew, hand-backs that cannot take another worker's row, and the states an operator sees."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from store.db import open_database
from store.migrations import migrate
from store.outbox import SqlOutbox


def just_after() -> datetime:
    """A moment safely after the rows just accepted became due."""
    return datetime.now(UTC) + timedelta(seconds=1)


def items(n: int, tenant: str = "t1", record: str = "r1") -> list[dict[str, Any]]:
    return [{"tenant_id": tenant, "chat_id": f"19:c{i}", "record_type": "incident", "record_id": record,
             "payload": {"n": i}} for i in range(n)]


@pytest.fixture
async def outbox(database_url: str) -> AsyncIterator[SqlOutbox]:
    db = await open_database(database_url)
    await migrate(db)
    yield SqlOutbox(db)
    await db.close()


async def test_accept_is_atomic_and_deduplicated(outbox: SqlOutbox):
    """One accept records its inbox key and every item; the same key again adds nothing."""
    assert await outbox.accept("op-1", items(3))
    assert not await outbox.accept("op-1", items(3))
    assert (await outbox.counts())["pending"] == 3
    assert await outbox.accept("op-2", [])  # nothing to post is still remembered as accepted
    assert not await outbox.accept("op-2", items(2))
    assert (await outbox.counts())["pending"] == 3


async def test_concurrent_accepts_of_one_key_record_once(outbox: SqlOutbox):
    """Ten simultaneous accepts of one key: exactly one succeeds."""
    results = await asyncio.gather(*(outbox.accept("op-x", items(2)) for _ in range(10)))
    assert results.count(True) == 1
    assert (await outbox.counts())["pending"] == 2


async def test_concurrent_claims_never_share_a_row(outbox: SqlOutbox):
    """Workers claiming at the same moment get disjoint rows, and together all of them."""
    await outbox.accept("op", items(60))
    batches = await asyncio.gather(*(outbox.claim(f"w{i}", 7, datetime.now(UTC)) for i in range(12)))
    ids = [row["id"] for batch in batches for row in batch]
    assert len(ids) == len(set(ids)) == 60


async def test_lease_hides_rows_until_it_ends(outbox: SqlOutbox):
    """A claimed row is invisible to others during its lease and claimable once it ends (a crashed worker)."""
    await outbox.accept("op", items(1))
    now = just_after()
    assert len(await outbox.claim("w1", 10, now)) == 1
    assert await outbox.claim("w2", 10, now + timedelta(seconds=5)) == []
    again = await outbox.claim("w2", 10, now + outbox.lease + timedelta(seconds=1))
    assert len(again) == 1


async def test_renew_extends_only_own_live_leases(outbox: SqlOutbox):
    """Renewal extends rows still leased to the worker; once a lease lapsed it is not renewed, and a guarded
    hand-back frees only the worker's own lapsed row, never the one another worker took meanwhile."""
    await outbox.accept("op", items(2))
    now = just_after()
    ids = [r["id"] for r in await outbox.claim("w1", 10, now)]
    assert await outbox.renew(ids, "w1", now + timedelta(seconds=15)) == set(ids)
    assert await outbox.claim("w2", 10, now + outbox.lease + timedelta(seconds=1)) == []  # renewed: still w1's
    later = now + timedelta(seconds=16) + outbox.lease
    (taken,) = await outbox.claim("w2", 1, later)
    assert await outbox.renew(ids, "w1", later) == set()
    await outbox.release(ids, later, worker="w1")
    (freed,) = await outbox.claim("w3", 10, later)
    assert {freed["id"], taken["id"]} == set(ids)


async def test_guarded_release_and_retry_leave_other_workers_rows(outbox: SqlOutbox):
    """A hand-back or retry by a worker whose lease lapsed does not touch the row another worker now holds."""
    await outbox.accept("op", items(1))
    now = just_after()
    (row,) = await outbox.claim("w1", 1, now)
    later = now + outbox.lease + timedelta(seconds=1)
    (same,) = await outbox.claim("w2", 1, later)
    assert same["id"] == row["id"]
    await outbox.release([row["id"]], later, worker="w1")
    await outbox.retry_many([row["id"]], later, "late", worker="w1")
    assert await outbox.claim("w3", 1, later + timedelta(seconds=1)) == []


async def test_states_done_retry_dead_skip(outbox: SqlOutbox):
    """done, retry (counted, due later), dead and skipped show in the counts; finished rows are never claimed."""
    await outbox.accept("op", items(4))
    now = just_after()
    rows = await outbox.claim("w", 10, now)
    a, b, c, d = (r["id"] for r in rows)
    await outbox.done(a)
    await outbox.retry(b, now + timedelta(seconds=30), "HTTP 429")
    await outbox.dead(c, "HTTP 400")
    await outbox.skip([d], "bot removed")
    counts = await outbox.counts()
    assert (counts["done"], counts["pending"], counts["dead"], counts["skipped"]) == (1, 1, 1, 1)
    assert await outbox.claim("w", 10, now + timedelta(seconds=29)) == []
    (retried,) = await outbox.claim("w", 10, now + timedelta(seconds=31))
    assert (retried["id"], retried["attempts"]) == (b, 1)
    dead = await outbox.items("dead")
    assert dead[0]["last_error"] == "HTTP 400"


async def test_claim_skips_tenants_at_their_cap(outbox: SqlOutbox):
    """Rows of tenants the worker holds enough of stay in the table; other tenants' rows are claimed."""
    await outbox.accept("a", items(3, tenant="busy"))
    now = just_after()
    await outbox.accept("b", items(2, tenant="calm"))
    rows = await outbox.claim("w", 10, now, skip_tenants=["busy"])
    assert {r["tenant_id"] for r in rows} == {"calm"}


async def test_sent_times_and_purge(outbox: SqlOutbox):
    """Recent sends per chat seed pacing; purge forgets old delivered rows and inbox keys, keeps dead rows."""
    await outbox.accept("op", items(2))
    now = just_after()
    rows = await outbox.claim("w", 10, now)
    await outbox.done_many([rows[0]["id"]], now)
    await outbox.dead(rows[1]["id"], "gone")
    sent = await outbox.sent_times({"19:c0", "19:c1"}, now - timedelta(minutes=1))
    assert list(sent) == ["19:c0"]
    assert await outbox.purge(now + timedelta(days=8)) == 2  # one done row, one inbox key
    counts = await outbox.counts()
    assert (counts["done"], counts["dead"]) == (0, 1)
    assert await outbox.accept("op", items(1))  # the key was forgotten after a week
