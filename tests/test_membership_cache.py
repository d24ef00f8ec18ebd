"""domain.membership.Membership on its real parts: the SQL chat directory (SQLite), the Bot Connector client against
the fake Bot Connector and the Graph gateway against the fake Graph. A clock handed to it (not patched) shows the
answers' lifetime; the fake connector counts the lookups in flight."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from domain.membership import Membership
from domain.model import ConversationRef
from graph import GraphGateway
from store.chat_directory import SqlChatDirectory
from store.connections import SqlConnectionStore
from store.db import Database, open_database
from store.migrations import migrate
from teams.connector import ConnectorClient
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.teams import ALEX, MEGAN, TENANT
from tests.test_chat_names import roster

CHATS = [f"19:chat{n:02d}@thread.v2" for n in range(35)]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await open_database(f"sqlite:///{tmp_path}/m.db")
    await migrate(database)
    yield database
    await database.close()


@pytest.fixture
async def client(connector: FakeConnector) -> AsyncIterator[ConnectorClient]:
    async with aiohttp.ClientSession() as session:
        yield ConnectorClient(session, None)


async def bot_in(db: Database, connector: FakeConnector, chats: list[str], *members: str) -> None:
    for chat in chats:
        await SqlConnectionStore(db).save_conversation(ConversationRef(connector.url, chat, TENANT, "28:bot"))
        connector.rosters[chat] = roster([(m, m) for m in members])


async def test_answers_live_for_the_ttl_then_teams_is_asked_again(db: Database, connector: FakeConnector,
                                                                   client: ConnectorClient):
    clock = Clock()
    members = Membership(SqlChatDirectory(db), client, ttl=60, timer=clock)
    await bot_in(db, connector, CHATS[:1], ALEX)
    assert await members.is_member(TENANT, CHATS[0], ALEX) is True
    connector.rosters[CHATS[0]] = roster([])  # Alex leaves; Teams sends no event this process sees
    clock.now += 59
    assert await members.is_member(TENANT, CHATS[0], ALEX) is True
    assert len(connector.member_lookups) == 1
    clock.now += 2
    assert await members.is_member(TENANT, CHATS[0], ALEX) is False
    assert len(connector.member_lookups) == 2
    assert await members.is_member(TENANT, "19:nobot@thread.v2", ALEX) is None  # bot not there, no Graph: unknown


async def test_the_cache_is_bounded(db: Database, connector: FakeConnector, client: ConnectorClient):
    members = Membership(SqlChatDirectory(db), client, size=2)
    await bot_in(db, connector, CHATS[:3], ALEX)
    assert await members.of_chats(TENANT, CHATS[:3], ALEX) == dict.fromkeys(CHATS[:3], True)
    assert await members.of_chats(TENANT, CHATS[:3], ALEX) == dict.fromkeys(CHATS[:3], True)
    assert len(connector.member_lookups) > 3, "three answers do not fit in a cache of two"


async def test_lookups_of_a_page_run_concurrently_within_the_bound(db: Database, connector: FakeConnector,
                                                                   client: ConnectorClient):
    members = Membership(SqlChatDirectory(db), client, concurrency=5)
    await bot_in(db, connector, CHATS[:12], MEGAN)
    connector.member_delay = 0.05
    answers = await members.of_chats(TENANT, CHATS[:12], MEGAN)
    assert set(answers.values()) == {True} and len(connector.member_lookups) == 12
    assert 1 < connector.member_in_flight_max <= 5


async def test_recent_without_graph_checks_a_bounded_number_of_chats(db: Database, connector: FakeConnector,
                                                                     client: ConnectorClient):
    members = Membership(SqlChatDirectory(db), client, candidates=30)
    await bot_in(db, connector, CHATS, ALEX)
    recent = await members.recent(TENANT, ALEX, limit=20)
    assert len(recent) == 20 and len(connector.member_lookups) == 30
    assert [c.chat_id for c in recent] == list(reversed(CHATS))[:20]  # most recently added first
    assert await members.recent(TENANT, "") == []


async def test_graph_refusals_fall_back_to_the_bot_connector(db: Database, connector: FakeConnector,
                                                            client: ConnectorClient):
    """Without Chat.ReadBasic.All (or ChatMember.Read.All) Graph answers 403: the bot's chats are checked one by
    one with the Bot Connector instead, and the page still says who is in which chat."""
    async with FakeGraph() as graph:
        gateway = GraphGateway(graph.url, "none", None, None)
        await gateway.start()
        try:
            members = Membership(SqlChatDirectory(db), client, gateway)
            await bot_in(db, connector, CHATS[:2], ALEX)
            graph.fail(1, status=403)  # GET /users/{id}/chats
            graph.fail(2, status=403)  # GET /chats/{id}/members, once per chat
            assert [c.chat_id for c in await members.recent(TENANT, ALEX)] == [CHATS[1], CHATS[0]]
            assert len(connector.member_lookups) == 2
            graph.add_chat(CHATS[0], members=[MEGAN])  # Graph answers again: it wins over the Bot Connector
            assert await members.is_member(TENANT, CHATS[0], MEGAN) is True
            assert len(connector.member_lookups) == 2
            listed = len(graph.calls("GET", r"/users/.*/chats"))
            assert [c.chat_id for c in await members.recent(TENANT, MEGAN)] == [CHATS[0]]
            assert len(graph.calls("GET", r"/users/.*/chats")) == listed, "a refusal is not repeated on every page"
        finally:
            await gateway.close()
