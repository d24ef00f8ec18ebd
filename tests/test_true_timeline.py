"""A true timeline (issue 14): with ChatMessage.Read.Chat the bot gets every message of its group chats. It
answers only messages that @mention it, moves the last sender and time of connected, synced chats (never the
text), writes at most once per chat per window under bursts, and the local directory's timeline persists in the
service's database and shows on the record page."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_identity import GLOBAL_ADMIN, FakeIdentity
from tests.notify_helpers import eventually
from tests.teams import ALEX, GROUP, MEGAN, PATTI, activity

CASE = "CAS-01001-K7R2M8"
OTHER = "19:not-connected@thread.v2"


@pytest.fixture
async def entra() -> AsyncIterator[FakeIdentity]:
    async with FakeIdentity() as fake:
        yield fake


async def sync_on(tab: Tab) -> None:
    settings, etag = await tab.settings(ALEX)
    settings["timeline_sync"] = True
    reply = await tab.put_settings(PATTI, settings, etag, wids=[GLOBAL_ADMIN])
    assert reply.status == 200, reply.body


async def chatter(tab: Tab, text: str, user: str = MEGAN, conv: str = GROUP) -> None:
    status, _ = await tab.bot.post(activity(text, user=user, conv=conv, mention=False))
    assert status == 200


async def test_unaddressed_messages_move_the_timeline_silently(sqlite_url: str, entra: FakeIdentity,
                                                               connector: FakeConnector, http: aiohttp.ClientSession):
    """Megan's ordinary message gets no answer, moves the last sender (no text), and the record page shows it;
    after a restart on the same database the timeline is still there."""
    tab, runner = await start_tab(sqlite_url, entra, connector, http)
    try:
        await sync_on(tab)
        await tab.bot.say(f"connect case {CASE}")
        answered = len(connector.by_conversation[GROUP])
        await chatter(tab, "the secret customer password is hunter2")
        await chatter(tab, "hello, anyone?", conv=OTHER)  # not connected: ignored, no answer
        assert len(connector.by_conversation[GROUP]) == answered and not connector.by_conversation[OTHER]
        (item,) = (await tab.get(f"/api/records/case/{CASE}/connections", ALEX)).body["timeline"]
        assert (item["linked_by"], item["last_sender"], item["linked"]) == ("Alex Wilber", "Megan Bowen", True)
        assert "hunter2" not in str(item)
    finally:
        await runner.cleanup()
    tab, runner = await start_tab(sqlite_url, entra, connector, http)
    try:
        page = await tab.get(f"/tabs/record/panel?type=case&id={CASE}", ALEX)
        assert "Timeline" in page.body and "Megan Bowen" in page.body and "hunter2" not in page.body
    finally:
        await runner.cleanup()


async def test_a_burst_makes_at_most_one_write_per_window(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                          connector: FakeConnector, http: aiohttp.ClientSession):
    """Thirty messages in a burst cost two timeline writes in Dataverse (the first, then one at the window's
    end), and the timeline ends on the true last sender."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, timeline_window=0.5) as env:
        tab, megan, alex = env.tab, env.aad(MEGAN), env.aad(ALEX)
        settings, etag = await tab.settings(alex)
        settings["timeline_sync"] = True
        assert (await tab.put_settings(alex, settings, etag, wids=[GLOBAL_ADMIN])).status == 200
        await tab.bot.say(f"connect case {CASE}", user=alex)
        before = len(env.dv.calls("PATCH", "chats("))
        for n in range(30):
            await chatter(tab, f"message {n}", user=megan if n % 2 else alex)
        await chatter(tab, "the last word", user=megan)
        assert await eventually(lambda: len(env.dv.calls("PATCH", "chats(")) - before == 2, within=3)
        await asyncio.sleep(0.7)  # no further write comes later
        assert len(env.dv.calls("PATCH", "chats(")) - before == 2
        (row,) = env.dv.rows("chat")
        assert row["description"].endswith(".") and "Last message from Megan Bowen" in row["description"]
        assert "last word" not in str(row)
