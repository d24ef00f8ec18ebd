"""AI-suggested contacts: `suggest case <key>` posted to /api/messages shows "Resolved similar cases" from the
demo directory's resolved cases (indexed at start), on SQLite and PostgreSQL, with fake Graph presence/licences."""
from __future__ import annotations

import json
import math
import time
import uuid
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
from tests.notify_helpers import CASE_ID as NOTIFY_CASE_ID
from tests.notify_helpers import Service, notify_config, option, set_pair, webhook_body
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
    service = app.app[SERVICE]
    settings, etag = await service.load_settings()
    first = replace(settings.record_types["incident"], similar_first=True)
    etag = await service.save_settings(settings.with_type("incident", first), etag)
    card, text = await suggest(app, connector)
    assert text.index(SECTION) < text.index("Record owner") and "Busy" in text
    settings, _ = await service.load_settings()
    await service.save_settings(settings.with_type("incident", replace(first, similar_contacts=False)), etag)
    _, text = await suggest(app, connector)
    assert SECTION not in text and "Isaiah Langer" not in text


async def test_a_person_is_listed_once_and_types_without_resolutions_have_no_section(app: Running,
                                                                                     connector: FakeConnector):
    """Isaiah owns CAS-00903 and resolved the printer cases most like it: he is listed once, as the record owner,
    and the similar-cases section goes on with the next people."""
    card, text = await suggest(app, connector, "case CAS-00903-R3S3D3")
    assert text.count("Isaiah Langer") == 1 and "Isaiah Langer" in [p for p, _ in section_people(card, "Record owner")]
    assert "Isaiah Langer" not in [p for p, _ in section_people(card)]
    assert "Patti Fernandez" in [p for p, _ in section_people(card)]
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


MEGAN_ID = "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"  # Megan's systemuser id


def resolution_body(case_id: str, resolver: str, at_ms: int | None) -> dict:
    """A RemoteExecutionContext for Create of an incidentresolution (Dataverse's resolve-case message)."""
    attrs = [{"key": "incidentid", "value": {"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts",
                                             "Id": case_id, "LogicalName": "incident", "Name": None}},
             {"key": "subject", "value": "Replaced the print server's network card"}]
    if at_ms is not None:
        attrs.append({"key": "actualend", "value": f"/Date({at_ms})/"})
    rid = str(uuid.uuid4())
    return {"MessageName": "Create", "PrimaryEntityName": "incidentresolution", "PrimaryEntityId": rid,
            "OperationId": str(uuid.uuid4()), "InitiatingUserId": resolver, "Stage": 40, "Depth": 1,
            "OperationCreatedOn": f"/Date({int(time.time() * 1000)})/",
            "InputParameters": [{"key": "Target", "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "LogicalName": "incidentresolution",
                "Id": rid, "Attributes": attrs, "FormattedValues": []}}],
            "PreEntityImages": [], "PostEntityImages": []}


async def test_resolution_from_dataverse_webhook_is_suggestable_at_once_and_reactivation_removes_it(
        database_url: str, connector: FakeConnector, graph: FakeGraph, http: aiohttp.ClientSession):
    """Create incidentresolution for the open printer case (by Megan) -> at once she is suggested for another printer
    case; a duplicate delivery changes nothing; Update incident statecode Active takes her out again."""
    service = await Service.start(notify_config(database_url, graph_base_url=graph.url), connector, http)
    try:
        app = service.running
        other = "case CAS-00903-R3S3D3"  # printers on floor 1 show offline
        card, _ = await suggest(app, connector, other)
        assert "Megan Bowen" not in [p for p, _ in section_people(card)]
        body = resolution_body(NOTIFY_CASE_ID, MEGAN_ID, int(time.time() * 1000) - 86_400_000 * 3)
        for _ in range(2):  # Dataverse retries: an upsert, never a second case
            status, reply = await service.webhook(body)
            assert (status, reply["status"]) == (200, "indexed")
        card, text = await suggest(app, connector, other)
        reasons = dict(section_people(card))
        typical = round((time.time() - 3 * 86_400 - datetime.fromisoformat("2026-11-20T09:15:00+00:00").timestamp())
                        / 86_400)  # the case was created on 2026-11-20 and resolved three days ago
        assert reasons["Megan Bowen"] == f"resolved 1 similar case, latest 3 days ago, typically in {typical} days"
        assert "printer outage" not in text and "CAS-01234" not in text
        reopen = webhook_body(NOTIFY_CASE_ID, priority=None)
        target = reopen["InputParameters"][0]["value"]
        set_pair(target["Attributes"], "statecode", option(0))
        set_pair(target["FormattedValues"], "statecode", "Active")
        status, reply = await service.webhook(reopen)
        assert status == 200 and reply["index"] == "reactivated: removed"
        card, _ = await suggest(app, connector, other)
        assert "Megan Bowen" not in [p for p, _ in section_people(card)]
    finally:
        await service.stop()


async def test_resolution_webhook_bad_or_unknown_input(database_url: str, connector: FakeConnector, graph: FakeGraph,
                                                       http: aiohttp.ClientSession):
    service = await Service.start(notify_config(database_url, graph_base_url=graph.url), connector, http)
    try:
        no_case = resolution_body(NOTIFY_CASE_ID, MEGAN_ID, None)
        no_case["InputParameters"][0]["value"]["Attributes"] = []
        status, reply = await service.webhook(no_case)
        assert status == 200 and reply["status"] == "ignored"
        unknown = resolution_body("0badcafe-0000-4000-8000-000000000000", MEGAN_ID, None)
        status, reply = await service.webhook(unknown)
        assert status == 200 and reply["index"] == "ignored: the case or its resolver is unknown"
        status, _ = await service.webhook({"MessageName": "Create"})
        assert status == 400
    finally:
        await service.stop()


async def test_new_chat_without_people_suggests_resolvers_of_similar_cases(app: Running, connector: FakeConnector,
                                                                           graph: FakeGraph):
    """The new-chat flow: `new case <key>` naming nobody answers with the suggestions, similar-case resolvers
    included, and a Chat button there starts the connected chat with that person."""
    await app.bot.say(f"new case {PRINTER_CASE}", conv="a:lynne", conv_type="personal", user=LYNNE)
    assert "at least one colleague" in connector.texts("a:lynne")[-1]
    card = connector.cards("a:lynne")[-1]
    assert_valid_card(card)
    assert [p for p, _ in section_people(card)][:1] == ["Isaiah Langer"]
    chat = next(a for a in _actions(card) if a.get("verb") == "newchat" and a["data"]["withUser"] == ISAIAH)
    status, _ = await app.bot.press("newchat", chat["data"], conv="a:lynne", conv_type="personal", user=LYNNE)
    assert status == 200
    created = graph.calls("POST", r"/chats$")
    assert len(created) == 1 and ISAIAH in json.dumps(created[0].json)


def _actions(node: object) -> list[dict]:
    if isinstance(node, dict):
        found = [node] if node.get("type") == "Action.Execute" else []
        return found + [a for v in node.values() for a in _actions(v)]
    if isinstance(node, list):
        return [a for v in node for a in _actions(v)]
    return []
