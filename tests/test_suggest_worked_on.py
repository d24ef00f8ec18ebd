"""Suggested contacts complete (SUG-02/03, issue 14): "Users who logged activity on the record", team members
narrowed to those who worked on the record, and a failed licence check said on the card, never hidden."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.card_schema import assert_valid_card
from tests.conftest import DEMO, Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.teams import ADELE, ALEX, ISAIAH, LYNNE, MEGAN, PATTI, Bot

TEAM_CASE = "CAS-01002-P4Q9T1"  # owned by team tier1 (admin Megan; members Alex, Megan, Diego)
TEAM_CASE_ID = "e1a2b3c4-0002-4000-8000-000000001002"
DIEGO = "b4a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
DIEGO_USER, ISAIAH_USER = "75c2dd85-e89e-e711-8122-000d3aa2331c", "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"


def email(n: int, owner: str, when: str) -> dict:
    return {"id": f"m0000009-0000-4000-8000-00000000000{n}", "subject": f"Call notes {n}", "actualend": when,
            "regardingobjectid": {"type": "incident", "id": TEAM_CASE_ID}, "statuscode": "Sent",
            "ownerid": {"type": "systemuser", "id": owner}}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        for aad in (ALEX, MEGAN, ADELE, ISAIAH, PATTI, LYNNE, DIEGO):
            fake.set_user(aad, licensed=True, presence="Available")
        yield fake


@pytest.fixture
async def app(tmp_path: Path, sqlite_url: str, connector: FakeConnector, graph: FakeGraph,
              http: aiohttp.ClientSession) -> AsyncIterator[Running]:
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    data["records"]["email"] += [email(1, DIEGO_USER, "2026-11-21T09:00:00Z"),
                                 email(2, ISAIAH_USER, "2026-11-22T09:00:00Z")]
    directory = tmp_path / "directory.json"
    directory.write_text(json.dumps(data), encoding="utf-8")
    config = test_config(sqlite_url, record_source=f"local:{directory}", graph_base_url=graph.url)
    application, runner, url = await start_app(config)
    yield Running(application, runner, url, Bot(url, connector.url, http))
    await runner.cleanup()


async def suggest(app: Running, connector: FakeConnector) -> str:
    await app.bot.say(f"suggest case {TEAM_CASE}", conv="a:lynne", conv_type="personal", user=LYNNE)
    card = connector.cards("a:lynne")[-1]
    assert_valid_card(card)
    return json.dumps(card, ensure_ascii=False)


async def test_team_members_who_worked_and_activity_loggers(app: Running, connector: FakeConnector):
    """Diego (a tier1 member who logged a call) is a team member who worked on it; Alex (a member who never
    touched it) is not suggested; Isaiah (not in the team) is listed under logged activity."""
    text = await suggest(app, connector)
    assert text.index("Owning team administrator") < text.index("Megan Bowen")
    assert text.index("Owning team member") < text.index("Diego Siciliani") < text.index("Logged activity")
    assert text.index("Logged activity on this record") < text.index("Isaiah Langer")
    assert "Alex Wilber" not in text

    await app.bot.say(f"connect case {TEAM_CASE}")  # now Alex has worked on it
    assert "Alex Wilber" in await suggest(app, connector)


async def test_failed_licence_check_is_said_and_nobody_is_shown_as_licensed(app: Running, connector: FakeConnector,
                                                                            graph: FakeGraph):
    """When Graph's licence check fails the card says so and marks each person as unchecked."""
    graph.fail(1, status=403)
    text = await suggest(app, connector)
    assert "Teams licences could not be checked" in text
    people = text.count("Teams licence not checked")  # each has a Chat button (Execute and its Submit fallback)
    assert people == 3 and text.count('"verb": "newchat"') == 2 * people
