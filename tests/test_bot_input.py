"""Bad input gets a clear 4xx or message, never a 500; state survives restarts; hostile records render intact."""
from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import aiohttp
import pytest

from records.directory_file import DirectoryError
from records.local import LocalRecordSource
from tests.card_schema import assert_valid_card
from tests.conftest import Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.teams import GROUP, ISAIAH, Bot, activity


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400), (b"[]", 400), (b"\xff\xfe", 400), (b"{}", 400),
    (json.dumps({"type": "message", "serviceUrl": "ftp://x", "conversation": {"id": "c"},
                 "recipient": {"id": "b"}}).encode(), 400),
    (json.dumps({"type": "message", "serviceUrl": "http://x/", "recipient": {"id": "b"}}).encode(), 400),
    (json.dumps({"type": "message", "serviceUrl": "http://x/", "conversation": {"id": "c"},
                 "recipient": {"id": "b"}, "from": "me"}).encode(), 400),
])
async def test_malformed_activities_get_400(running: Running, body: bytes, status: int):
    """Malformed JSON or missing fields: 400 with a JSON error, no stack trace."""
    got, answer = await running.bot.post(body)
    assert got == status
    assert "error" in answer and "Traceback" not in json.dumps(answer)


async def test_oversized_body_gets_413(running: Running):
    """Bodies over the limit are refused before parsing."""
    got, _ = await running.bot.post(b"{" + b" " * (600 * 1024) + b"}")
    assert got == 413


async def test_unknown_activity_type_and_invoke_are_harmless(running: Running, connector: FakeConnector):
    """Unknown activity types answer 200 and do nothing; unknown invokes answer 200."""
    got, _ = await running.bot.post(activity("x", service_url=connector.url, type="somethingNew"))
    assert got == 200
    body = activity("", service_url=connector.url, type="invoke", name="nobody/knows", mention=False)
    got, answer = await running.bot.post(body)
    assert got == 200 and answer == {}
    assert connector.activities == []


async def test_entities_that_are_not_objects_are_skipped(running: Running, connector: FakeConnector):
    """Entities that are strings or numbers (not Teams' shape) are ignored: the command is still answered."""
    body = activity("help", service_url=connector.url)
    body["entities"] = ["mention", 7, None, *body.get("entities", [])]
    got, _ = await running.bot.post(body)
    assert got == 200
    assert any("Here's what I can do" in t for t in connector.texts(GROUP))


@pytest.mark.parametrize("field,value", [
    ("text", 5), ("text", ["help"]), ("name", {"x": 1}), ("id", 12), ("value", "a string"),
    ("channelData", "not an object"), ("channelData", {"tenant": "x"}), ("membersAdded", "everyone"),
    ("membersAdded", [7, {"id": 3, "name": ["n"]}]), ("entities", {"type": "mention"}),
    ("from", {"id": 1, "name": 2, "aadObjectId": 3}), ("conversation", {"id": "c", "tenantId": 9, "name": 8,
                                                                         "conversationType": ["groupChat"]}),
])
async def test_fields_of_an_unexpected_json_type_are_read_as_empty(running: Running, connector: FakeConnector,
                                                                   field: str, value: object):
    """Each field the bot reads is checked for its JSON type: an odd one is left out, never a 500."""
    for kind in ("message", "conversationUpdate", "invoke"):
        body = activity("help", service_url=connector.url, type=kind)
        body[field] = value
        got, answer = await running.bot.post(body)
        assert got in (200, 400), (kind, got, answer)
        assert "Traceback" not in json.dumps(answer)


async def test_a_turn_that_fails_tells_the_user_and_answers_200(sqlite_url: str, running: Running,
                                                                 connector: FakeConnector):
    """A broken database (its connections table dropped by someone else) fails the turn: the chat hears "Sorry,
    something went wrong", an invoke gets Teams' error shape, and neither answer carries the error's text."""
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as other:
        other.execute("DROP TABLE connections")
    got, answer = await running.bot.say("connect case CAS-01001-K7R2M8")
    assert got == 200 and answer in (None, "", {})
    assert any("something went wrong on my side" in t for t in connector.texts(GROUP))
    assert "connections" not in json.dumps(connector.activities)
    got, answer = await running.bot.press("connect", {"recordType": "incident",
                                                      "recordId": "e1a2b3c4-0001-4000-8000-000000001001"})
    assert got == 200 and answer["statusCode"] == 500 and answer["type"] == "application/vnd.microsoft.error"
    assert "connections" not in json.dumps(answer)


async def test_invoke_without_verb_is_400(running: Running, connector: FakeConnector):
    """An adaptiveCard/action invoke with no verb answers 400 in the invoke-response shape."""
    body = activity("", service_url=connector.url, type="invoke", name="adaptiveCard/action", mention=False,
                    value={"action": {"type": "Action.Execute"}})
    got, answer = await running.bot.post(body)
    assert got == 400 and answer["statusCode"] == 400


async def test_invoke_with_unknown_record_answers_card(running: Running):
    """A button pointing at a missing record answers 200 with a card saying so."""
    got, answer = await running.bot.press("chats", {"recordType": "incident", "recordId": "nope"})
    assert got == 200 and "No case 'nope'" in json.dumps(answer)


async def test_hostile_record_connects_with_valid_intact_card(running: Running, connector: FakeConnector):
    """The demo's hostile case (quotes, backslashes, {{ }}, <at>, emoji, newline) renders as it is."""
    await running.bot.say("connect case CAS-01003-H0ST1L", user=ISAIAH)
    context = connector.cards(GROUP)[-1]
    assert_valid_card(context)
    title = 'Quote "test" \\ back\\slash {{ braces }} <at>Megan</at> \u2764\ufe0f\nsecond line'
    assert any(run.get("text") == title for block in context["body"] for run in block.get("inlines", []))


async def test_restart_keeps_connections(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession):
    """Connections are in the database: a restarted service lists them."""
    _app, runner, url = await start_app(test_config(sqlite_url))
    await Bot(url, connector.url, http).say("connect case CAS-01001-K7R2M8")
    await runner.cleanup()
    _app, runner, url = await start_app(test_config(sqlite_url))
    await Bot(url, connector.url, http).say("records")
    await runner.cleanup()
    assert "Cannot sign in to the customer portal" in json.dumps(connector.cards(GROUP)[-1])


@pytest.mark.parametrize("content,problem", [
    ("{", "not valid JSON"),
    ('{"users": [{"id": "u"}]}', 'users[0]: "aadObjectId" must be a non-empty string'),
    ('{"recordTypes": {"x": {}}}', 'recordTypes.x: "primaryName" is required'),
    ('{"roles": {"R": {"access": {"incident": "admin"}}}}', "roles.R.access.incident"),
    ('{"recordTypes": {}, "records": {"ghost": []}}', "records.ghost: no such record type"),
    ('{"recordTypes": {"x": {"primaryName": "n", "views": [{"name": "Q", "columns": [], "quickFind": true, '
     '"conditions": [{"attribute": "statecode", "operator": "like", "value": "A"}]}]}}}',
     'recordTypes.x.views[quickFind].conditions[0]: needs "attribute" and an "operator"'),
    ('{"recordTypes": {"x": {"primaryName": "n", "views": [{"name": "Q", "columns": [], "quickFind": true, '
     '"conditions": [{"attribute": "statecode", "operator": "in", "value": "A"}]}]}}}',
     '"values" list (in, not-in)'),
])
def test_malformed_directory_names_file_and_problem(tmp_path: Path, content: str, problem: str):
    """A malformed directory file stops start-up with a message naming the file and the problem."""
    path = tmp_path / "dir.json"
    path.write_text(content)
    with pytest.raises(DirectoryError) as err:
        LocalRecordSource(path)
    assert str(path) in str(err.value) and problem in str(err.value)
