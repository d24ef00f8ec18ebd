"""Real chat names, members' own chats and record numbers in lists (issue 13 items 3, 5 and 7), through
/api/messages with Teams-shaped conversation updates, the fake Bot Connector's pagedmembers and the fake
Microsoft Graph's GET /chats/{id}; on SQLite and PostgreSQL where the store changed."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from domain.chat_names import members_title
from tests.conftest import Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.teams import ADELE, ALEX, BOT_ID, GROUP, MEGAN, TENANT, Bot, activity

CASE = "CAS-01001-K7R2M8"
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
PEOPLE = [("Alex Wilber", ALEX), ("Megan Bowen", MEGAN), ("Adele Vance", ADELE),
          ("Diego Siciliani", "b4a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"),
          ("Lee Gu", "00000000-0000-0000-0000-00000000aa01")]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        yield fake


@pytest.fixture
async def app(database_url: str, connector: FakeConnector, graph: FakeGraph, http: aiohttp.ClientSession
              ) -> AsyncIterator[Running]:
    config = test_config(database_url, graph_base_url=graph.url, graph_auth="none")
    application, runner, url = await start_app(config)
    yield Running(application, runner, url, Bot(url, connector.url, http))
    await runner.cleanup()


def roster(people: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [{"id": f"29:{aad}", "name": name, "aadObjectId": aad, "userRole": "user", "tenantId": "t"}
            for name, aad in people]


def update(**extra: Any) -> dict[str, Any]:
    body = activity("", mention=False)
    body.update(type="conversationUpdate", text=None, **extra)
    return body


def chat_titles(card: dict[str, Any]) -> list[str]:
    """The bold first line of each chat in a chats card."""
    return [item["items"][0]["inlines"][0]["text"] for item in card["body"] if item.get("type") == "Container"]


async def chats_card(app: Running, connector: FakeConnector, user: str = ALEX, join: bool = False) -> dict[str, Any]:
    conv = f"a:personal-{user}"
    await app.bot.say(f"{'join' if join else 'chats'} case {CASE}", conv=conv, conv_type="personal", user=user)
    return connector.cards(conv)[-1]


async def eventually(check: Any, seconds: float = 3.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    assert await check()


def test_members_title_reads_like_teams() -> None:
    assert members_title(["Alex Wilber", "Megan Bowen", "Adele Vance", "Diego Siciliani", "Lee Gu"]) == \
        "Alex Wilber, Megan Bowen and 3 others"
    assert members_title(["Alex Wilber", "Megan Bowen", "Adele Vance"]) == "Alex Wilber, Megan Bowen and Adele Vance"
    assert members_title(["Alex Wilber", "Megan Bowen"]) == "Alex Wilber and Megan Bowen"
    assert members_title(["Alex Wilber", " "]) == "Alex Wilber"
    assert members_title([]) == ""


async def test_untitled_chat_is_named_from_members_then_renamed(app: Running, connector: FakeConnector,
                                                                  graph: FakeGraph):
    """Bot added to an untitled chat: Graph says no topic, the roster names it; a topicName update renames it
    everywhere, including connections made before; removing the topic falls back to the members' names."""
    graph.add_chat(GROUP, members=[p for _, p in PEOPLE])
    connector.rosters[GROUP] = roster(PEOPLE)
    status, _ = await app.bot.post(update(membersAdded=[{"id": BOT_ID}]))
    assert status == 200
    await app.bot.say(f"connect case {CASE}")

    async def named(expected: str) -> bool:
        return chat_titles(await chats_card(app, connector)) == [expected]

    await eventually(lambda: named("Alex Wilber, Megan Bowen and 3 others"))
    assert graph.calls("GET", r"/chats/[^/]+$"), "the topic is read from Graph when Teams sent no name"
    await app.bot.post(update(topicName="Contoso printer escalation <b>&amp;</b>"))
    assert await named("Contoso printer escalation <b>&amp;</b>")
    await app.bot.post(update(topicName=""))
    assert await named("Alex Wilber, Megan Bowen and 3 others")


async def test_graph_topic_names_the_chat_and_membership_changes_rename_untitled(
        app: Running, connector: FakeConnector, graph: FakeGraph):
    graph.add_chat(GROUP, members=[ALEX, MEGAN], topic="Escalation 7")
    connector.rosters[GROUP] = roster(PEOPLE[:2])
    await app.bot.post(update(membersAdded=[{"id": BOT_ID}]))
    await app.bot.say(f"connect case {CASE}")
    await eventually(lambda: _titled(app, connector, ["Escalation 7"]))
    # Untitled: members joining change the name Teams shows, and ours.
    await app.bot.post(update(topicName=""))
    connector.rosters[GROUP] = roster(PEOPLE[:3])
    await app.bot.post(update(membersAdded=[{"id": f"29:{ADELE}", "aadObjectId": ADELE}]))
    await eventually(lambda: _titled(app, connector, ["Alex Wilber, Megan Bowen and Adele Vance"]))
    assert await _titled(app, connector, ["Alex Wilber, Megan Bowen and Adele Vance"])


async def _titled(app: Running, connector: FakeConnector, expected: list[str]) -> bool:
    return chat_titles(await chats_card(app, connector)) == expected


async def test_member_sees_open_chat_even_when_locked(app: Running, connector: FakeConnector, graph: FakeGraph):
    """JOIN-02 locks a chat for non-members only: Adele (read-only) who is in the chat gets Open chat with the
    deep link; Megan (not in it) gets Join, and neither list shows a member's chat as locked. Who is in the chat is
    asked of Teams (here Graph) each time it matters; a membership event makes the next answer fresh."""
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.say(f"connect case {CASE}")
    locked = json.dumps(await chats_card(app, connector, ADELE, join=True))
    assert "Locked: you need write access" in locked and "Open chat" not in locked
    graph.add_chat(GROUP, members=[ALEX, ADELE])  # Adele is added in Teams, which tells the bot
    await app.bot.post(update(membersAdded=[{"id": f"29:{ADELE}", "aadObjectId": ADELE}]))
    card = await chats_card(app, connector, ADELE, join=True)
    text = json.dumps(card)
    assert "Locked" not in text and "You're in this chat." in text
    link = f"https://teams.microsoft.com/l/chat/{GROUP}/0"
    assert {"type": "Action.OpenUrl", "title": "Open chat", "url": link} in _actions(card)
    assert "Open chat" in json.dumps(await chats_card(app, connector, ADELE))  # the plain chats list too
    megan = await chats_card(app, connector, MEGAN, join=True)
    assert "join" in [a.get("verb") for a in _actions(megan)] and "Open chat" not in json.dumps(megan)
    # Adele leaves: Teams says so, and she is no longer shown the chat as hers.
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.post(update(membersRemoved=[{"id": f"29:{ADELE}", "aadObjectId": ADELE}]))
    assert "Locked: you need write access" in json.dumps(await chats_card(app, connector, ADELE, join=True))


def _actions(card: dict[str, Any]) -> list[dict[str, Any]]:
    return [a for item in card["body"] if item.get("type") == "Container"
            for sub in item["items"] if sub.get("type") == "ActionSet" for a in sub["actions"]]


async def test_records_and_chats_lists_show_numbers(app: Running, connector: FakeConnector, graph: FakeGraph):
    await app.bot.say(f"connect case {CASE}")
    await app.bot.say("records")
    records = json.dumps(connector.cards(GROUP)[-1])
    assert f"Cannot sign in to the customer portal ({CASE})" in records
    assert f"Cannot sign in to the customer portal ({CASE})" in json.dumps(await chats_card(app, connector))


async def test_record_page_and_audit_show_the_chat_name(sqlite_url: str, connector: FakeConnector,
                                                        graph: FakeGraph, http: aiohttp.ClientSession):
    """The record view (JSON and HTML), the audit and its CSV name the chat; members get the deep link."""
    from tests.admin_support import start_tab
    from tests.fake_identity import FakeIdentity
    from tests.teams import PATTI

    graph.add_chat(GROUP, members=[ALEX])
    async with FakeIdentity() as entra:
        tab, runner = await start_tab(sqlite_url, entra, connector, http, graph_base_url=graph.url,
                                      graph_auth="none")
        try:
            await tab.bot.post(update(membersAdded=[{"id": BOT_ID}], topicName="Printer outage, floor 2"))
            await tab.bot.say(f"connect case {CASE}")
            view = (await tab.get(f"/api/records/case/{CASE}/connections", ALEX)).body
            assert view["chats"][0]["title"] == "Printer outage, floor 2"
            assert view["chats"][0]["is_member"] is True
            assert view["chats"][0]["open_url"] == f"https://teams.microsoft.com/l/chat/{GROUP}/0"
            panel = await tab.get(f"/tabs/record/panel?type=case&id={CASE}", ALEX)
            assert "Printer outage, floor 2" in panel.body and "Open chat" in panel.body
            events = (await tab.get("/api/audit", PATTI)).body["events"]
            assert events[0]["chat_name"] == "Printer outage, floor 2"
            rows = (await tab.get("/api/audit.csv", PATTI)).body
            assert "chat_name" in rows.splitlines()[0] and "Printer outage, floor 2" in rows
            assert "Printer outage, floor 2" in (await tab.get("/tabs/audit/rows", PATTI)).body
        finally:
            await runner.cleanup()


async def test_record_page_offers_recent_chats_by_name(sqlite_url: str, connector: FakeConnector,
                                                       graph: FakeGraph, http: aiohttp.ClientSession):
    """Item 6, with Graph: the agent's group chats (GET /users/{id}/chats, most recent message first) that the app
    is in are offered by name; connected ones drop out; a chat the bot left is not offered; other people's chats
    never show; and nothing about who is in which chat is written to the database."""
    from tests.admin_support import start_tab
    from tests.fake_identity import FakeIdentity

    other, quiet = "19:0ther0chat@thread.v2", "19:qu1et0chat@thread.v2"
    graph.add_chat(GROUP, members=[ALEX], last_message_at="2026-12-01T10:00:00Z")
    graph.add_chat(quiet, members=[ALEX, MEGAN], last_message_at="2026-11-01T10:00:00Z")
    graph.add_chat(other, members=[ALEX], last_message_at="2026-12-02T10:00:00Z")
    graph.add_chat("19:n0b0t@thread.v2", members=[ALEX], last_message_at="2026-12-03T10:00:00Z")  # app not in it
    async with FakeIdentity() as entra:
        tab, runner = await start_tab(sqlite_url, entra, connector, http, graph_base_url=graph.url,
                                      graph_auth="none")
        try:
            for chat, topic in ((GROUP, "Printer outage, floor 2"), (quiet, "Quiet one"), (other, "Gone soon")):
                await tab.bot.post(update(membersAdded=[{"id": BOT_ID}], topicName=topic, conversation={
                    "id": chat, "conversationType": "groupChat", "isGroup": True, "tenantId": TENANT}))
            await tab.bot.say("hi", mention=False)
            await tab.bot.post(update(membersRemoved=[{"id": BOT_ID}], conversation={
                "id": other, "conversationType": "groupChat", "isGroup": True, "tenantId": TENANT}))
            api = "/api/records/account/ACC-1001"
            view = (await tab.get(api + "/connections", ALEX)).body
            assert view["recent_chats"] == [{"chat_id": GROUP, "name": "Printer outage, floor 2"},
                                            {"chat_id": quiet, "name": "Quiet one"}]
            listed = graph.calls("GET", f"/users/{ALEX}/chats")[-1].query
            assert listed["$filter"] == "chatType eq 'group'"
            assert listed["$orderby"] == "lastMessagePreview/createdDateTime desc"
            assert (await tab.get(api + "/connections", MEGAN)).body["recent_chats"] == [
                {"chat_id": quiet, "name": "Quiet one"}]
            assert (await tab.get(api + "/connections", ADELE)).body["recent_chats"] == []
            panel = (await tab.get("/tabs/record/panel?type=account&id=ACC-1001", ALEX)).body
            assert f'<option value="{GROUP}">Printer outage, floor 2</option>' in panel
            assert (await tab.call("POST", api + "/connect", ALEX, body={"chatId": GROUP})).status == 201
            assert (await tab.get(api + "/connections", ALEX)).body["recent_chats"] == [
                {"chat_id": quiet, "name": "Quiet one"}]
            from app import DB
            db = runner.app[DB]  # type: ignore[attr-defined]
            tables = {r["name"] for r in await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")}
            assert "chat_members" not in tables
        finally:
            await runner.cleanup()
