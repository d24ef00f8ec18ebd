"""Delivery from the outbox through real HTTP to the fake Bot Connector: retries honouring Retry-After, pacing per
conversation, dead letters, a bot removed from a chat, restarts, two replicas, and coalescing."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from tests.conftest import PG_ADMIN_URL, _drop_pg_database, _fresh_pg_database
from tests.fake_connector import FakeConnector
from tests.notify_helpers import (
    Service,
    directory_with_cases,
    eventually,
    notify_config,
    texts,
    update_cards,
    wait_cards,
    webhook_body,
)

A, B = "19:deliver-a@thread.v2", "19:deliver-b@thread.v2"


@pytest.fixture
async def lite(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Service]:
    service = await Service.start(notify_config(sqlite_url), connector, http)
    yield service
    await service.stop()


async def many_cases(tmp_path: Path, database_url: str, connector: FakeConnector, http: aiohttp.ClientSession,
                     count: int) -> tuple[Service, list[tuple[str, str]]]:
    directory, cases = directory_with_cases(tmp_path, count)
    service = await Service.start(notify_config(database_url, record_source=f"local:{directory}"), connector, http)
    return service, cases


async def test_429_retry_after_is_honoured(lite: Service, connector: FakeConnector):
    """A 429 with Retry-After: 1 delays the next attempt by at least a second; the card then arrives once."""
    await lite.connect(A)
    connector.fail_next(429, 1, retry_after="1")
    started = time.monotonic()
    await lite.webhook(webhook_body())
    cards = await wait_cards(connector, A, 1, within=5)
    assert len(cards) == 1
    assert connector.times[A][-1] - started >= 1.0
    await asyncio.sleep(0.3)
    assert len(update_cards(connector, A)) == 1


async def test_transient_errors_are_retried(lite: Service, connector: FakeConnector):
    """412, 502, 503 and 504 are retried; the card arrives once."""
    await lite.connect(A)
    for status in (412, 502, 503, 504):
        connector.fail_next(status, 1, retry_after="0")
    await lite.webhook(webhook_body())
    assert len(await wait_cards(connector, A, 1, within=5)) == 1
    assert (await lite.status())["states"]["done"] == 1


async def test_per_conversation_pacing(tmp_path: Path, sqlite_url: str, connector: FakeConnector,
                                       http: aiohttp.ClientSession):
    """20 changes to 20 records connected to one chat: all arrive, never more than 7 in any second nor 8 in any
    two seconds in that conversation."""
    svc, cases = await many_cases(tmp_path, sqlite_url, connector, http, 20)
    try:
        for _, number in cases:
            await svc.connect(A, number)
        for rid, _ in cases:
            assert (await svc.webhook(webhook_body(rid)))[1]["status"] == "accepted"
        assert len(await wait_cards(connector, A, 20, within=20)) == 20
        times = [t for t, act in zip(connector.times[A], connector.by_conversation[A], strict=True)
                 if " updated: " in str(act)]
        assert all(times[i + 7] - times[i] >= 1.0 for i in range(len(times) - 7))
        assert all(times[i + 8] - times[i] >= 2.0 for i in range(len(times) - 8))
    finally:
        await svc.stop()


async def test_dead_letter_after_bounded_attempts(lite: Service, connector: FakeConnector):
    """A chat that keeps failing with 503 is tried a bounded number of times, then the row is visibly dead with
    its last error, and never posted again."""
    await lite.connect(A)
    before = len(connector.headers)
    connector.fail_next(503, 100, retry_after="0")
    await lite.webhook(webhook_body())
    async def dead() -> bool:
        return bool((await lite.status())["states"]["dead"] >= 1)
    await eventually(dead, 10)
    states = (await lite.status())["states"]
    assert (states["dead"], states["pending"]) == (1, 0)
    attempts = len(connector.headers) - before
    assert attempts == 8
    from app import DB
    row = await lite.running.app[DB].fetchrow("SELECT last_error, attempts FROM outbox WHERE state = 'dead'")
    assert row and "HTTP 503" in row["last_error"] and row["attempts"] == 8
    connector.failures.clear()
    await asyncio.sleep(0.6)
    assert len(connector.headers) - before == attempts
    assert update_cards(connector, A) == []


async def test_bot_removed_stops_posting_there(lite: Service, connector: FakeConnector):
    """403 BotNotInConversationRoster: the chat is marked and skipped from then on; other chats still get cards."""
    await lite.connect(A)
    await lite.connect(B)
    connector.gone.add(A)
    await lite.webhook(webhook_body())
    await wait_cards(connector, B, 1)
    await asyncio.sleep(0.3)
    tried = len(connector.headers)
    await lite.webhook(webhook_body(priority=("High", "Low")))
    await wait_cards(connector, B, 2)
    await asyncio.sleep(0.3)
    assert len(connector.headers) == tried + 1  # only B was posted to
    assert update_cards(connector, A) == []
    states = (await lite.status())["states"]
    assert states["skipped"] == 2 and states["done"] == 2


async def test_restart_mid_delivery_delivers_once(database_url: str, connector: FakeConnector,
                                                  http: aiohttp.ClientSession):
    """Accepted while the connector fails, the app stops, a new app on the same database delivers exactly once."""
    first = await Service.start(notify_config(database_url), connector, http)
    await first.connect(A)
    connector.fail_next(503, 1000, retry_after="0.2")
    tried = len(connector.headers)
    assert (await first.webhook(webhook_body()))[1]["status"] == "accepted"
    await eventually(lambda: len(connector.headers) >= tried + 2)
    await first.stop()
    connector.failures.clear()
    second = await Service.start(notify_config(database_url), connector, http)
    try:
        assert len(await wait_cards(connector, A, 1, within=5)) == 1
        await asyncio.sleep(0.8)
        assert len(update_cards(connector, A)) == 1
    finally:
        await second.stop()


async def test_two_workers_on_postgres_never_double(tmp_path: Path, connector: FakeConnector,
                                                    http: aiohttp.ClientSession):
    """Two replicas on one PostgreSQL database, webhooks split between them: every card arrives exactly once and
    both workers delivered some."""
    url = await _fresh_pg_database()
    directory, cases = directory_with_cases(tmp_path, 12)
    config = notify_config(url, record_source=f"local:{directory}")
    one = await Service.start(config, connector, http)
    two = await Service.start(config, connector, http)
    chats = [f"19:pg-{i}@thread.v2" for i in range(3)]
    try:
        for _, number in cases:
            for chat in chats:
                await one.connect(chat, number)
        bodies = [webhook_body(rid) for rid, _ in cases]
        for i, body in enumerate(bodies):  # a stream alternating between the replicas: both workers claim
            first, second = await asyncio.gather((one, two)[i % 2].webhook(body), (two, one)[i % 2].webhook(body))
            assert sorted((first[1]["status"], second[1]["status"])) == ["accepted", "duplicate"]
            await asyncio.sleep(0.05)
        for chat in chats:
            cards = await wait_cards(connector, chat, 12, within=20)
            names = sorted(texts(c).split("\n")[0] for c in cards)
            assert names == sorted(f"Case updated: Load case {i}" for i in range(12))
        await asyncio.sleep(0.8)
        assert sum(len(update_cards(connector, c)) for c in chats) == 36
        conn = await asyncpg.connect(url)
        try:
            workers = await conn.fetchval("SELECT COUNT(DISTINCT claimed_by) FROM outbox WHERE state = 'done'")
        finally:
            await conn.close()
        assert workers == 2
    finally:
        await one.stop()
        await two.stop()
        await _drop_pg_database(url)
    assert PG_ADMIN_URL


async def test_quick_changes_to_one_record_coalesce(tmp_path: Path, sqlite_url: str, connector: FakeConnector,
                                                    http: aiohttp.ClientSession):
    """Changes to one record that wait together for the chat's pacing become one card listing each field's
    values in order."""
    svc, cases = await many_cases(tmp_path, sqlite_url, connector, http, 9)
    try:
        for _, number in cases:
            await svc.connect(A, number)
        for rid, _ in cases[:8]:  # fill the chat's 1 s and 2 s windows
            await svc.webhook(webhook_body(rid))
        last = cases[8][0]
        await svc.webhook(webhook_body(last, priority=("Normal", "High")))
        await svc.webhook(webhook_body(last, priority=("High", "Critical")))
        await svc.webhook(webhook_body(last, priority=None, status=("In Progress", "On Hold")))
        cards = await wait_cards(connector, A, 9, within=10)
        await asyncio.sleep(0.5)
        mine = [texts(c) for c in update_cards(connector, A) if "Load case 8" in texts(c)]
        assert len(mine) == 1
        assert "Priority: Normal → High → Critical" in mine[0]
        assert "Status Reason: In Progress → On Hold" in mine[0]
        assert len(cards) == 9
    finally:
        await svc.stop()
