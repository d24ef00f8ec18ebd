"""Who is in which chat is asked of Teams and never stored (the data statement at the top of README.md): join state
on the record page and in the bot's lists, the recent chats offered to connect, membership events, and a database
that holds no per-person chat membership after all the traffic. Through /api/messages and the tab API, with the fake Bot
Connector answering GET /v3/conversations/{id}/members/{id} (no Graph configured) or the fake Microsoft Graph."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.fake_identity import FakeIdentity
from tests.teams import ADELE, ALEX, BOT_ID, GROUP, ISAIAH, MEGAN, PATTI, TENANT
from tests.test_chat_names import eventually, roster, update

CASE = "CAS-01001-K7R2M8"
CASE_API = f"/api/records/case/{CASE}"
ACCOUNT_API = "/api/records/account/ACC-1001"
NAMES = {ALEX: "Alex Wilber", MEGAN: "Megan Bowen", ADELE: "Adele Vance", ISAIAH: "Isaiah Langer"}


def people(*ids: str) -> list[dict[str, Any]]:
    return roster([(NAMES[i], i) for i in ids])


def in_chat(chat: str, **extra: Any) -> dict[str, Any]:
    return update(conversation={"id": chat, "conversationType": "groupChat", "isGroup": True, "tenantId": TENANT},
                  **extra)


@pytest.fixture
async def entra() -> AsyncIterator[FakeIdentity]:
    async with FakeIdentity() as fake:
        yield fake


@pytest.fixture
async def tab(database_url: str, entra: FakeIdentity, connector: FakeConnector, http: aiohttp.ClientSession
              ) -> AsyncIterator[Tab]:
    """The app with SSO and no Microsoft Graph: only the Bot Connector can say who is in a chat."""
    client, runner = await start_tab(database_url, entra, connector, http)
    yield client
    await runner.cleanup()


async def chat_with_bot(tab: Tab, connector: FakeConnector, chat: str, *members: str, topic: str | None = None
                        ) -> None:
    connector.rosters[chat] = people(*members)
    extra = {"topicName": topic} if topic is not None else {}
    status, _ = await tab.bot.post(in_chat(chat, membersAdded=[{"id": BOT_ID}], **extra))
    assert status == 200


async def view(tab: Tab, user: str, api: str = CASE_API) -> dict[str, Any]:
    reply = await tab.get(api + "/connections", user)
    assert reply.status == 200, reply.body
    return dict(reply.body)


async def chats_text(tab: Tab, connector: FakeConnector, user: str) -> str:
    conv = f"a:personal-{user}"
    await tab.bot.say(f"chats case {CASE}", conv=conv, conv_type="personal", user=user)
    return json.dumps(connector.cards(conv)[-1])


async def test_join_state_is_asked_of_the_bot_connector(tab: Tab, connector: FakeConnector):
    """Without Graph: Alex and Isaiah are in the chat, Megan is not; the record page and the bot's chats list say
    so from the Bot Connector's single-member lookup by Entra object id."""
    await chat_with_bot(tab, connector, GROUP, ALEX, ISAIAH, topic="Printer outage")
    await tab.bot.say(f"connect case {CASE}")
    alex = (await view(tab, ALEX))["chats"][0]
    assert alex["is_member"] is True and alex["title"] == "Printer outage"
    megan = (await view(tab, MEGAN))["chats"][0]
    assert megan["is_member"] is False and megan["can_join"] is True
    assert (await view(tab, ISAIAH))["chats"][0]["is_member"] is True
    assert {(GROUP, ALEX), (GROUP, MEGAN), (GROUP, ISAIAH)} <= set(connector.member_lookups)
    assert "You're in this chat." in await chats_text(tab, connector, ISAIAH)
    assert "You're in this chat." not in await chats_text(tab, connector, MEGAN)


async def test_a_person_removed_from_the_chat_is_no_longer_shown_as_member(tab: Tab, connector: FakeConnector):
    """Answers are reused for a short while (no lookup per page view); Teams' membersRemoved event makes the next
    one fresh, so Megan, removed from the chat, no longer sees it as hers."""
    await chat_with_bot(tab, connector, GROUP, ALEX, MEGAN, topic="Printer outage")
    await tab.bot.say(f"connect case {CASE}")
    assert (await view(tab, MEGAN))["chats"][0]["is_member"] is True
    asked = len(connector.member_lookups)
    assert (await view(tab, MEGAN))["chats"][0]["is_member"] is True
    assert len(connector.member_lookups) == asked, "a second view within the TTL reuses the answer"
    connector.rosters[GROUP] = people(ALEX)
    await tab.bot.post(in_chat(GROUP, membersRemoved=[{"id": f"29:{MEGAN}", "aadObjectId": MEGAN}]))
    megan = (await view(tab, MEGAN))["chats"][0]
    assert megan["is_member"] is False and len(connector.member_lookups) == asked + 1
    assert (await view(tab, ALEX))["chats"][0]["is_member"] is True


async def test_recent_chats_by_name_without_graph(tab: Tab, connector: FakeConnector):
    """Without Graph the bot's group chats, most recently added or connected first, are checked live for the
    viewer; untitled chats are named from their members; chats the bot left, personal chats and other people's
    chats never show; a chat connected to the record drops out of that record's offer."""
    printer, untitled, megans, left = (GROUP, "19:un717led@thread.v2", "19:megan5@thread.v2", "19:l3ft@thread.v2")
    await chat_with_bot(tab, connector, printer, ALEX, MEGAN, topic="Printer outage")
    await chat_with_bot(tab, connector, untitled, ALEX, ADELE)
    await chat_with_bot(tab, connector, megans, MEGAN, topic="Megan's")
    await chat_with_bot(tab, connector, left, ALEX, topic="Left")
    await tab.bot.post(in_chat(left, membersRemoved=[{"id": BOT_ID}]))
    await tab.bot.say("hello", conv=f"a:personal-{ALEX}", conv_type="personal")

    async def offered(user: str, api: str = ACCOUNT_API) -> list[dict[str, str]]:
        return list((await view(tab, user, api))["recent_chats"])

    named = {"chat_id": untitled, "name": "Alex Wilber and Adele Vance"}
    await eventually(lambda: _has(offered(ADELE), named))
    assert await offered(ALEX) == [named, {"chat_id": printer, "name": "Printer outage"}]
    assert await offered(MEGAN) == [{"chat_id": megans, "name": "Megan's"},
                                    {"chat_id": printer, "name": "Printer outage"}]
    assert await offered(ISAIAH) == []
    assert {c for c, who in connector.member_lookups if who == ALEX} == {printer, untitled, megans}
    assert (await tab.call("POST", ACCOUNT_API + "/connect", ALEX, body={"chatId": printer})).status == 201
    assert await offered(ALEX) == [named]
    assert await offered(ALEX, CASE_API) == [{"chat_id": printer, "name": "Printer outage"}, named]


async def _has(listed: Any, item: dict[str, str]) -> bool:
    return item in await listed


async def test_connect_from_outside_needs_membership_by_the_bot_connector(tab: Tab, connector: FakeConnector):
    """Connecting a chat from the record page asks Teams whether the caller is in it, Graph or not."""
    await chat_with_bot(tab, connector, GROUP, ALEX, topic="Printer outage")
    stranger = await tab.call("POST", ACCOUNT_API + "/connect", MEGAN, body={"chatId": GROUP})
    assert stranger.status == 403 and stranger.body["field"] == "chatId"
    assert (await tab.call("POST", ACCOUNT_API + "/connect", ALEX, body={"chatId": GROUP})).status == 201


async def test_the_database_holds_no_per_person_chat_membership(database_url: str, entra: FakeIdentity,
                                                                connector: FakeConnector,
                                                                http: aiohttp.ClientSession):
    """After bot arrivals, messages from several people, people added and removed, record pages, recent chats,
    connect, join and disconnect, no table holds anyone's Entra object id: connections and the audit name people
    by their CRM user ids, and who is in which chat is nowhere."""
    other = "19:0ther0chat@thread.v2"
    async with FakeGraph() as graph:
        graph.add_chat(GROUP, members=[ALEX, MEGAN, ADELE])
        graph.add_chat(other, members=[ALEX, ISAIAH])
        tab, runner = await start_tab(database_url, entra, connector, http, graph_base_url=graph.url,
                                      graph_auth="none")
        try:
            await chat_with_bot(tab, connector, GROUP, ALEX, MEGAN, ADELE)
            await chat_with_bot(tab, connector, other, ALEX, ISAIAH, topic="Other")
            for who in (ALEX, MEGAN, ADELE):
                await tab.bot.say("morning", user=who, mention=False)
            await tab.bot.say("hi", user=ISAIAH, mention=False, conv=other)
            await tab.bot.post(update(membersAdded=[{"id": f"29:{ISAIAH}", "aadObjectId": ISAIAH}]))
            await tab.bot.post(update(membersRemoved=[{"id": f"29:{ADELE}", "aadObjectId": ADELE}]))
            await tab.bot.say(f"connect case {CASE}")
            for who in (ALEX, MEGAN, ADELE, ISAIAH, PATTI):
                await view(tab, who)
                await view(tab, who, ACCOUNT_API)
            assert (await tab.call("POST", ACCOUNT_API + "/connect", ISAIAH, body={"chatId": other})).status == 201
            assert (await tab.call("POST", CASE_API + "/join", ISAIAH, body={"chatId": GROUP})).status == 200
            assert (await tab.call("POST", CASE_API + "/disconnect", ALEX, body={"chatId": GROUP})).status == 200
            from app import DB
            db = runner.app[DB]  # type: ignore[attr-defined]
            dump = await _dump(db)
            assert "chat_members" not in dump
            assert dump["connections"] and dump["audit"] and dump["conversations"]
            for person in (ALEX, MEGAN, ADELE, ISAIAH, PATTI):
                holding = [t for t, text in dump.items() if person.lower() in text.lower()]
                assert holding == [], f"{person} is stored in {holding}"
        finally:
            await runner.cleanup()


async def _dump(db: Any) -> dict[str, str]:
    """Every table's rows as text, by table name."""
    if db.dialect == "sqlite":
        names = [r["name"] for r in await db.fetch("SELECT name FROM sqlite_master WHERE type = 'table'")]
    else:
        names = [r["table_name"] for r in await db.fetch(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")]
    return {name: json.dumps(await db.fetch(f'SELECT * FROM "{name}"'), default=str) for name in names}
