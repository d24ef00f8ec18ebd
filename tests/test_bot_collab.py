"""join, new and suggest through /api/messages against a fake Microsoft Graph and the fake Bot Connector."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator

import aiohttp
import pytest

from app import SERVICE
from tests.card_schema import assert_valid_card
from tests.conftest import Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.teams import ADELE, ALEX, GROUP, ISAIAH, LYNNE, MEGAN, PATTI, Bot

CASE = "CAS-01001-K7R2M8"
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
TEAM_CASE = "CAS-01002-P4Q9T1"  # owned by team tier1 (admin Megan; members Alex, Megan, Diego)
CATALOG_ID = "cat-0001"
DIEGO = "b4a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        for aad in (ALEX, MEGAN, ADELE, ISAIAH, PATTI, LYNNE, DIEGO):
            fake.set_user(aad, licensed=True, presence="Available")
        yield fake


@pytest.fixture
async def app(sqlite_url: str, connector: FakeConnector, graph: FakeGraph, http: aiohttp.ClientSession
              ) -> AsyncIterator[Running]:
    config = test_config(sqlite_url, graph_base_url=graph.url, graph_auth="none", teams_app_catalog_id=CATALOG_ID)
    application, runner, url = await start_app(config)
    yield Running(application, runner, url, Bot(url, connector.url, http))
    await runner.cleanup()


def text_of(card: dict) -> str:
    return json.dumps(card, ensure_ascii=False)


async def test_join_card_shows_join_button_for_writer_and_lock_for_reader(app: Running, connector, graph):
    """JOIN-02: Megan (write, not a member) gets a Join button; Adele (read-only) sees the chat locked."""
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.say(f"connect case {CASE}")
    await app.bot.say(f"join case {CASE}", conv="a:megan", conv_type="personal", user=MEGAN)
    card = connector.cards("a:megan")[-1]
    assert_valid_card(card)
    assert '"verb": "join"' in text_of(card)
    await app.bot.say(f"join case {CASE}", conv="a:adele", conv_type="personal", user=ADELE)
    locked = text_of(connector.cards("a:adele")[-1])
    assert "Locked: you need write access" in locked and '"verb": "join"' not in locked


async def test_join_adds_member_with_full_history_once(app: Running, connector, graph):
    """JOIN-03: pressing Join posts the member with visibleHistoryStartDateTime 0001-01-01; again says already in."""
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.say(f"connect case {CASE}")
    data = {"recordType": "incident", "recordId": CASE_ID, "chatId": GROUP}
    status, body = await app.bot.press("join", data, conv="a:megan", conv_type="personal", user=MEGAN)
    assert status == 200 and "added to" in text_of(body)
    adds = graph.calls("POST", r"/chats/.*/members")
    assert len(adds) == 1
    assert adds[0].json["visibleHistoryStartDateTime"] == "0001-01-01T00:00:00Z"
    status, body = await app.bot.press("join", data, conv="a:megan", conv_type="personal", user=MEGAN)
    assert "already in this chat" in text_of(body)
    assert len(graph.calls("POST", r"/chats/.*/members")) == 1


async def test_join_refused_when_turned_off_or_read_only_or_not_connected(app: Running, connector, graph):
    """JOIN-01: join is off for accounts by default, needs write access, and only for connected chats."""
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.say("connect account ACC-1001")
    await app.bot.say(f"connect case {CASE}")
    account = {"recordType": "account", "recordId": "a0000001-0000-4000-8000-000000000001", "chatId": GROUP}
    _, body = await app.bot.press("join", account, conv="a:m", conv_type="personal", user=MEGAN)
    assert "turned off for this record type" in text_of(body)
    case = {"recordType": "incident", "recordId": CASE_ID, "chatId": GROUP}
    _, body = await app.bot.press("join", case, conv="a:a", conv_type="personal", user=ADELE)
    assert "write access" in text_of(body)
    _, body = await app.bot.press("join", dict(case, chatId="19:other@thread.v2"), conv="a:m",
                                  conv_type="personal", user=MEGAN)
    assert "not connected" in text_of(body)
    assert graph.calls("POST", r"/chats/.*/members") == []


async def test_join_graph_failure_is_explained_and_retryable(app: Running, connector, graph):
    """A Graph failure on join gives a clear message; pressing again succeeds."""
    graph.add_chat(GROUP, members=[ALEX])
    await app.bot.say(f"connect case {CASE}")
    data = {"recordType": "incident", "recordId": CASE_ID, "chatId": GROUP}
    graph.fail(1, status=403)
    _, body = await app.bot.press("join", data, conv="a:m", conv_type="personal", user=MEGAN)
    assert "couldn't add you" in text_of(body) and "try again" in text_of(body)
    _, body = await app.bot.press("join", data, conv="a:m", conv_type="personal", user=MEGAN)
    assert "added to" in text_of(body)


async def test_new_chat_creates_installs_connects_and_posts_context(app: Running, connector, graph):
    """NEW-01..03: group chat with every member as owner, auto-named, app installed, connected, card posted."""
    status, _ = await app.bot.say(f"new case {CASE} with meganb@contoso.example adelev@contoso.example",
                                  conv="a:alex", conv_type="personal")
    assert status == 200
    create = graph.calls("POST", r"/chats")[0].json
    assert create["chatType"] == "group" and create["topic"] == "Cannot sign in to the customer portal"
    assert len(create["members"]) == 3 and all(m["roles"] == ["owner"] for m in create["members"])
    chat_id = next(iter(graph.chats))
    install = graph.calls("POST", r"/chats/.*/installedApps")[0].json
    assert install["teamsApp@odata.bind"].endswith(f"/appCatalogs/teamsApps/{CATALOG_ID}")
    result = connector.cards("a:alex")[-1]
    assert_valid_card(result)
    assert "Open chat" in text_of(result)
    assert "Cannot sign in" in text_of(connector.cards(chat_id)[0])  # the context card in the new chat
    await app.bot.say(f"chats case {CASE}", conv="a:alex", conv_type="personal")
    assert "Connected chats: 1" in text_of(connector.cards("a:alex")[-1])


async def test_new_chat_topic_rules_and_mentions(app: Running, connector, graph):
    """NEW-02: a typed topic wins; @mentions are resolved to people through the connector's member API."""
    connector.members["29:megan"] = {"id": "29:megan", "aadObjectId": MEGAN, "name": "Megan Bowen"}
    text = '<at>Connected Chats</at> new case CAS-01001-K7R2M8 with <at>Megan Bowen</at> topic "Portal"'
    body = {"entities": [{"type": "mention", "text": "<at>Connected Chats</at>",
                          "mentioned": {"id": "28:00000000-0000-0000-0000-0000000000b0", "name": "Connected Chats"}},
                         {"type": "mention", "text": "<at>Megan Bowen</at>",
                          "mentioned": {"id": "29:megan", "name": "Megan Bowen"}}]}
    from tests.teams import activity
    await app.bot.post(activity(text, service_url=connector.url, mention=False, **body))
    create = graph.calls("POST", r"/chats")[0].json
    assert create["topic"] == "Portal"
    assert len(create["members"]) == 2


async def test_new_chat_needs_someone_else_and_read_access(app: Running, connector, graph):
    """NEW-01: at least one other participant; the requester must be able to read the record."""
    await app.bot.say(f"new case {CASE}", conv="a:alex", conv_type="personal")
    assert "at least one colleague" in connector.texts("a:alex")[-1]
    await app.bot.say("new knowledge article KA-01010 with alexw@contoso.example", conv="a:i",
                      conv_type="personal", user=ISAIAH)
    assert "don't have access" in connector.texts("a:i")[-1]
    assert graph.calls("POST", r"/chats") == []


async def test_new_chat_install_failure_is_kept_with_a_way_to_finish(sqlite_url, connector, graph, http):
    """A chat created but not installed is reported with a Finish setup button that completes it."""
    config = test_config(sqlite_url, graph_base_url=graph.url, graph_auth="none", teams_app_id="manifest-guid")
    application, runner, url = await start_app(config)
    bot = Bot(url, connector.url, http)
    try:
        await bot.say(f"new case {CASE} with meganb@contoso.example", conv="a:alex", conv_type="personal")
        card = connector.cards("a:alex")[-1]
        assert_valid_card(card)
        assert "not finished" in text_of(card) and '"verb": "finish"' in text_of(card)
        chat_id = next(iter(graph.chats))
        recorded = await application[SERVICE].audit_events({"event": "new_chat_unfinished"}, 500)
        assert [r["chat_id"] for r in recorded] == [chat_id]  # not lost if nobody presses Finish setup
        graph.add_catalog_app("manifest-guid", "cat-42")  # the admin uploads the app to the tenant catalog
        finish = next(a for a in card["actions"] if a.get("verb") == "finish")
        status, body = await bot.press("finish", finish["data"], conv="a:alex", conv_type="personal")
        assert status == 200 and "not finished" not in text_of(body)
        assert graph.chats[chat_id].installed
        assert "Cannot sign in" in text_of(connector.cards(chat_id)[0])
    finally:
        await runner.cleanup()


async def test_suggestions_order_cap_license_and_presence(app: Running, connector, graph):
    """SUG-01..03: owner first, then team admin/members, capped at three with More, unlicensed dropped."""
    graph.set_user(DIEGO, licensed=False)
    graph.set_user(MEGAN, presence="Busy")
    await app.bot.say(f"connect case {TEAM_CASE}")  # Alex, a team member, works on the record
    await app.bot.say(f"suggest case {TEAM_CASE}", conv="a:lynne", conv_type="personal", user=LYNNE)
    card = connector.cards("a:lynne")[-1]
    assert_valid_card(card)
    text = text_of(card)
    assert text.index("Owning team administrator") < text.index("Owning team member")
    assert "Megan Bowen" in text and "Busy" in text
    assert "Diego Siciliani" not in text  # no Teams license
    presence_calls = graph.calls("POST", r"/communications/getPresencesByUserId")
    assert presence_calls and all(len(c.json["ids"]) <= 650 for c in presence_calls)


async def test_suggestions_name_owner_and_previous_connectors(app: Running, connector, graph):
    """Done-when: suggestions name the record owner and people who connected chats, with presence."""
    await app.bot.say(f"connect case {CASE}", user=MEGAN)
    await app.bot.say(f"suggest case {CASE}", conv="a:lynne", conv_type="personal", user=LYNNE)
    text = text_of(connector.cards("a:lynne")[-1])
    assert text.index("Record owner") < text.index("Alex Wilber") < text.index("Connected a chat")
    assert "Megan Bowen" in text and "Available" in text
    assert '"verb": "newchat"' in text


async def test_new_chat_finishing_late_reports_a_failed_follow_up(app: Running, connector, graph):
    """The "Chat with" button: Graph is slow, so the invoke answers "Creating the chat" within the budget; the chat
    is then made and connected, and when posting its card fails the user is told so (not only the server log)."""
    graph.delay = 2.0  # create + install take ~4 s, beyond bots/background.py's INVOKE_BUDGET
    connector.fail_next(502, conv="a:alex")  # the follow-up card into Alex's chat with the bot
    status, body = await app.bot.press("newchat", {"recordType": "incident", "recordId": CASE_ID, "withUser": MEGAN},
                                       conv="a:alex", conv_type="personal")
    assert status == 200 and "Creating the chat" in text_of(body)
    [report] = await connector.wait_for("a:alex", 1, seconds=10.0)
    text = text_of(report)
    assert "The chat is ready, but I couldn't post it here" in text and "502" in text
    chat_id = next(iter(graph.chats))
    assert "Cannot sign in" in text_of(connector.cards(chat_id)[0])  # connected, context card posted
