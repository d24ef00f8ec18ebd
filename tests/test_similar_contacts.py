"""AI-suggested contacts: `suggest case <key>` posted to /api/messages shows "Resolved similar cases" from the
demo directory's resolved cases (indexed at start), on SQLite and PostgreSQL, with fake Graph presence/licences."""
from __future__ import annotations

import json
import math
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import aiohttp
import pytest

from app import SERVICE
from tests.card_schema import assert_valid_card
from tests.conftest import Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.teams import ADELE, ALEX, ISAIAH, LYNNE, MEGAN, PATTI, Bot

PRINTER_CASE = "CAS-01234-Z9Y8X7"  # "Contoso - printer outage in building 4", owned by Alex
FORMER = "c5b2d3e4-f5a6-4b7c-9d8e-0f1a2b3c4d5e"  # resolved a printer case, then left (disabled)
DIEGO = "b4a1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d"
SECTION = "Resolved similar cases"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        for aad in (ALEX, MEGAN, ADELE, ISAIAH, PATTI, LYNNE, DIEGO, FORMER):
            fake.set_user(aad, licensed=True, presence="Available")
        yield fake


@pytest.fixture
async def app(database_url: str, connector: FakeConnector, graph: FakeGraph, http: aiohttp.ClientSession
              ) -> AsyncIterator[Running]:
    application, runner, url = await start_app(test_config(database_url, graph_base_url=graph.url))
    yield Running(application, runner, url, Bot(url, connector.url, http))
    await runner.cleanup()


async def suggest(app: Running, connector: FakeConnector, what: str = f"case {PRINTER_CASE}") -> tuple[dict, str]:
    await app.bot.say(f"suggest {what}", conv="a:lynne", conv_type="personal", user=LYNNE)
    card = connector.cards("a:lynne")[-1]
    assert_valid_card(card)
    return card, json.dumps(card, ensure_ascii=False)


def section_people(card: dict, name: str = SECTION) -> list[tuple[str, str]]:
    """(name, reason) of each person listed in a section of the suggest card."""
    for item in card["body"]:
        if item.get("type") == "Container" and item["items"][0]["inlines"][0]["text"] == name:
            people = []
            for row in item["items"][1:]:
                if row["type"] == "ColumnSet":
                    blocks = row["columns"][0]["items"]
                    texts = [b["inlines"][0]["text"] for b in blocks if b["type"] == "RichTextBlock"]
                    people.append((texts[0], texts[1] if len(texts) > 1 else ""))
            return people
    return []


def days_since(iso: str) -> int:
    return math.floor((datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds() / 86400)


async def test_resolvers_of_similar_cases_ranked_with_reason(app: Running, connector: FakeConnector):
    """Isaiah resolved three printer-offline cases: first, with counts and ages; the one who left is never named;
    no similar case is named or quoted."""
    card, text = await suggest(app, connector)
    people = section_people(card)
    assert people[0] == ("Isaiah Langer", f"resolved 3 similar cases, latest {days_since('2026-11-12T16:00:00+00:00')} "
                                          "days ago, typically in 2 days")
    assert ("Patti Fernandez", "resolved 1 similar case") in people  # no resolution date: no age, no speed
    assert "Former Agent" not in text
    assert "CAS-009" not in text and "floor 3" not in text and "building 2" not in text
    assert text.index("Record owner") < text.index(SECTION)  # after the rules-based sections by default
    assert '"verb": "newchat"' in text


async def test_unlicensed_expert_dropped_and_order_and_off_follow_settings(app: Running, connector: FakeConnector,
                                                                           graph: FakeGraph):
    graph.set_user(ISAIAH, licensed=False)
    card, _ = await suggest(app, connector)
    assert [p for p, _ in section_people(card)] == ["Patti Fernandez"]
    graph.set_user(ISAIAH, licensed=True, presence="Busy")
    store = app.app[SERVICE].settings
    settings, etag = await store.load()
    first = replace(settings.record_types["incident"], similar_first=True)
    etag = await store.save(settings.with_type("incident", first), etag)
    card, text = await suggest(app, connector)
    assert text.index(SECTION) < text.index("Record owner") and "Busy" in text
    settings, _ = await store.load()
    await store.save(settings.with_type("incident", replace(first, similar_contacts=False)), etag)
    _, text = await suggest(app, connector)
    assert SECTION not in text and "Isaiah Langer" not in text


async def test_a_person_is_listed_once_and_types_without_resolutions_have_no_section(app: Running,
                                                                                     connector: FakeConnector):
    """CAS-01002 (invoice tax, no description) matches Diego's resolved invoice case, but Diego is already listed as
    an owning-team member above, so the section has nobody left and is not shown."""
    _, text = await suggest(app, connector, "case CAS-01002-P4Q9T1")
    assert text.count("Diego Siciliani") == 1 and SECTION not in text
    _, text = await suggest(app, connector, "account ACC-1001")  # an account: not a type with a resolution state
    assert SECTION not in text


async def test_more_lists_the_whole_section(app: Running, connector: FakeConnector):
    status, body = await app.bot.press("suggest", {"recordType": "incident",
                                                   "recordId": "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21",
                                                   "section": SECTION}, conv="a:lynne", conv_type="personal",
                                       user=LYNNE)
    assert status == 200
    names = [p for p, _ in section_people(body["value"])]
    assert names[:1] == ["Isaiah Langer"] and "Record owner" not in json.dumps(body)
