"""One tenant's pace holds for all replicas together: two app instances on one PostgreSQL database, each
delivering the cards of its own webhook to chats of the same tenant, never post more than Teams' ~50 per second to
that tenant between them (before, each replica paced itself alone: up to ~97/s)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import aiohttp
import pytest

from bench.notify_bench import busiest_second
from domain.model import ConversationRef
from store.connections import SqlConnectionStore
from store.db import open_database
from store.migrations import migrate
from tests.conftest import _drop_pg_database, _fresh_pg_database, start_app
from tests.fake_connector import FakeConnector
from tests.notify_helpers import KEY, directory_with_cases, eventually, notify_config, webhook_body
from tests.teams import BOT_ID, TENANT

CHATS = 100  # per record; two records, one per replica: 200 cards for one tenant
LIMIT = 50  # Teams: about 50 requests per second per app per tenant
JITTER = 5  # posts leave at reserved moments 21 ms apart; event-loop delays on a busy machine can bunch a few


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    url = await _fresh_pg_database()
    yield url
    await _drop_pg_database(url)


async def _seed(url: str, records: list[str], service_url: str) -> dict[str, str]:
    """CHATS chats connected to each record, all in one tenant; chat -> record."""
    db = await open_database(url)
    chats = {}
    try:
        await migrate(db)
        store, now = SqlConnectionStore(db), datetime.now(UTC)
        for r, record in enumerate(records):
            for c in range(CHATS):
                chat = f"19:pace-{r}-{c}@thread.v2"
                await store.save_conversation(ConversationRef(service_url, chat, TENANT, BOT_ID))
                await store.connect(TENANT, "incident", record, chat, "seed", now)
                chats[chat] = record
    finally:
        await db.close()
    return chats


async def test_two_replicas_share_one_tenant_budget(pg_url: str, tmp_path, connector: FakeConnector):
    directory, made = directory_with_cases(tmp_path, 2)
    records = [rid for rid, _ in made]
    chats = await _seed(pg_url, records, connector.url)
    config = notify_config(pg_url, record_source=f"local:{directory}")
    replicas = [await start_app(config) for _ in range(2)]
    try:
        async with aiohttp.ClientSession() as http:
            for (_app, _runner, url), record in zip(replicas, records, strict=True):
                async with http.post(f"{url}/api/dataverse/webhook?code={KEY}", json=webhook_body(record)) as resp:
                    assert resp.status == 200 and (await resp.json())["chats"] == CHATS
        await eventually(lambda: sum(len(connector.times[c]) for c in chats) >= len(chats), 20)
    finally:
        for _app, runner, _url in replicas:
            await runner.cleanup()
    times = [t for chat in chats for t in connector.times[chat]]
    assert len(times) == len(chats)  # every card once: none lost, none doubled
    assert busiest_second(times) <= LIMIT + JITTER, f"{busiest_second(times)} posts to one tenant within a second"
    assert len(times) / (max(times) - min(times)) <= LIMIT  # on average, no faster than one replica alone
