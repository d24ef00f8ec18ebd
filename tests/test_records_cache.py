"""A chat's connections are cached (store/chat_cache.py); a change made anywhere else must show in the next
`records` turn: the record view's connect/disconnect (tab API), the closing policy run by the delivery worker after a
change, another process on the same SQLite file, and another replica on PostgreSQL (NOTIFY, also after its LISTEN
connection was cut). Each test first lists the chat's records, so the old answer is in the cache when it changes."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.admin_support import Tab, start_tab
from tests.conftest import _drop_pg_database, _fresh_pg_database, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.fake_identity import FakeIdentity
from tests.notify_helpers import CASE, Service, eventually, notify_config, texts
from tests.teams import ALEX, GROUP, Bot

DEMO_CASE = "CAS-01001-K7R2M8"
DEMO_CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
ACCOUNT = "ACC-1001"
NONE_YET = "None yet."
WITHIN = 10.0  # seconds a NOTIFY may take to reach another replica (a bound, not a measurement)


async def listed(bot: Bot, connector: FakeConnector, conv: str = GROUP) -> str:
    """The `records` command's card in `conv`, as text."""
    status, _ = await bot.say("records", conv=conv)
    assert status == 200
    return texts(connector.cards(conv)[-1])


async def pressed(bot: Bot, conv: str = GROUP) -> str:
    """The `records` card button's answer (an invoke), as text."""
    status, body = await bot.press("records", {"recordType": "incident", "recordId": DEMO_CASE_ID}, conv=conv)
    assert status == 200 and body["statusCode"] == 200
    return texts(body["value"])


@pytest.fixture
async def tab(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    async with FakeIdentity() as entra, FakeGraph() as graph:
        graph.add_chat(GROUP, members=[ALEX], topic="Printer outage")
        client, runner = await start_tab(sqlite_url, entra, connector, http, graph_base_url=graph.url,
                                         graph_auth="none")
        yield client
        await runner.cleanup()


async def test_record_view_changes_show_in_the_next_records_turn(tab: Tab, connector: FakeConnector):
    status, _ = await tab.bot.say(f"connect case {DEMO_CASE}")
    assert status == 200
    assert DEMO_CASE in await listed(tab.bot, connector) and DEMO_CASE in await pressed(tab.bot)

    done = await tab.call("POST", f"/api/records/case/{DEMO_CASE}/disconnect", ALEX, body={"chatId": GROUP})
    assert done.status == 200
    assert NONE_YET in await listed(tab.bot, connector)
    assert NONE_YET in await pressed(tab.bot)

    made = await tab.call("POST", f"/api/records/account/{ACCOUNT}/connect", ALEX, body={"chatId": GROUP})
    assert made.status == 201
    text = await listed(tab.bot, connector)
    assert ACCOUNT in text and DEMO_CASE not in text and NONE_YET not in text
    assert ACCOUNT in await pressed(tab.bot)


async def test_closing_policy_disconnect_shows_in_the_next_records_turn(sqlite_url: str, connector: FakeConnector,
                                                                       http: aiohttp.ClientSession):
    """A change to the case (here `set`; the Dataverse webhook takes the same path) makes the delivery worker
    disconnect the chat by the closing policy: the next `records` turn shows it gone."""
    from dataclasses import replace

    from domain.settings import Settings

    def close_disconnects(s: Settings) -> Settings:
        rts = s.record_types["incident"]
        return s.with_type("incident", replace(rts, lifecycle=replace(rts.lifecycle, close_disconnect=True)))

    async with FakeGraph() as graph:
        graph.set_user(ALEX, licensed=True)
        graph.add_chat(GROUP, members=[ALEX])
        svc = await Service.start(notify_config(sqlite_url, graph_base_url=graph.url), connector, http)
        try:
            await svc.connect(GROUP)
            await svc.save_settings(close_disconnects)
            assert CASE in await listed(svc.bot, connector)
            status, _ = await svc.bot.say(f"set case {CASE} status Resolved")
            assert status == 200

            async def policy_done() -> bool:
                async with http.get(f"{svc.url}/api/outbox/status") as resp:
                    return (await resp.json())["states"].get("pending", 0) == 0 and any(
                        "will be disconnected" in texts(c) for c in connector.cards(GROUP))
            assert await eventually(policy_done, within=WITHIN)
            assert await eventually(lambda: _disconnected(svc), within=WITHIN)
            assert NONE_YET in await listed(svc.bot, connector)
        finally:
            await svc.stop()


async def _disconnected(svc: Service) -> bool:
    from app import DB
    rows = await svc.running.app[DB].fetch("SELECT state FROM connections")
    return bool(rows) and all(r["state"] == "disconnected" for r in rows)


async def test_another_process_on_the_same_sqlite_file(sqlite_url: str, connector: FakeConnector,
                                                       http: aiohttp.ClientSession):
    """Two app instances on one file (each its own SQLite connection, as two processes would have): what one
    writes, the other's next `records` turn shows, with no wait (PRAGMA data_version)."""
    first_app, first_runner, first_url = await start_app(test_config(sqlite_url))
    second_app, second_runner, second_url = await start_app(test_config(sqlite_url))
    first, second = Bot(first_url, connector.url, http), Bot(second_url, connector.url, http)
    try:
        status, _ = await first.say(f"connect case {DEMO_CASE}")
        assert status == 200
        assert DEMO_CASE in await listed(first, connector) and DEMO_CASE in await pressed(first)
        status, _ = await second.say(f"connect account {ACCOUNT}")
        assert status == 200
        assert ACCOUNT in await listed(first, connector)
        status, _ = await second.say(f"disconnect case {DEMO_CASE}")
        assert status == 200
        text = await pressed(first)
        assert DEMO_CASE not in text and ACCOUNT in text
    finally:
        await second_runner.cleanup()
        await first_runner.cleanup()
    assert first_app is not second_app


async def test_another_postgresql_replica_also_after_its_listen_was_cut(connector: FakeConnector,
                                                                        http: aiohttp.ClientSession):
    url = await _fresh_pg_database()
    first_app, first_runner, first_url = await start_app(test_config(url))
    second_app, second_runner, second_url = await start_app(test_config(url))
    first, second = Bot(first_url, connector.url, http), Bot(second_url, connector.url, http)
    try:
        status, _ = await first.say(f"connect case {DEMO_CASE}")
        assert status == 200
        assert DEMO_CASE in await listed(first, connector)
        status, _ = await second.say(f"connect account {ACCOUNT}")
        assert status == 200
        assert await eventually(_shows(first, connector, present=ACCOUNT), within=WITHIN)

        admin = await asyncpg.connect(url)
        try:  # a database restart or a proxy timeout cuts the LISTEN connections
            cut = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        finally:
            await admin.close()
        assert cut == 2
        status, _ = await second.say(f"disconnect account {ACCOUNT}")
        assert status == 200
        assert await eventually(_shows(first, connector, present=DEMO_CASE, absent=ACCOUNT), within=WITHIN)
        assert ACCOUNT not in await pressed(first)
    finally:
        await second_runner.cleanup()
        await first_runner.cleanup()
        await _drop_pg_database(url)
    assert first_app is not second_app


def _shows(bot: Bot, connector: FakeConnector, present: str, absent: str = "") -> Any:
    """A condition for `eventually`: the next `records` card lists `present` and not `absent`."""
    async def check() -> bool:
        text = await listed(bot, connector)
        return present in text and not (absent and absent in text)
    return check
