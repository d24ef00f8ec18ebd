"""The "Find a record" search message extension through /api/messages: composeExtension/query invokes shaped as
Teams sends them (parameters, queryOptions skip/count, initialRun), answers read from the HTTP response."""
from __future__ import annotations

import json
from typing import Any

from tests.card_schema import assert_valid_card
from tests.conftest import Running
from tests.fake_connector import FakeConnector
from tests.teams import ADELE, ALEX, GROUP, ISAIAH, activity

CASE = "CAS-01001-K7R2M8"
PRINTER = "CAS-01234-Z9Y8X7"


def query(text: str | None, skip: int = 0, count: int = 25, user: str = ALEX, command: str = "findRecord",
          conv: str = GROUP, conv_type: str = "groupChat") -> dict[str, Any]:
    body = activity("", user=user, conv=conv, conv_type=conv_type, mention=False)
    parameters = [{"name": "initialRun", "value": "true"}] if text is None else [{"name": "searchText", "value": text}]
    body.update(type="invoke", name="composeExtension/query", text=None,
                value={"commandId": command, "parameters": parameters, "queryOptions": {"skip": skip, "count": count}})
    return body


async def search(running: Running, text: str | None, **kw: Any) -> dict[str, Any]:
    status, answer = await running.bot.post(query(text, **kw))
    assert status == 200, answer
    return answer["composeExtension"]


def titles(result: dict[str, Any]) -> list[str]:
    assert result["type"] == "result", result
    return [a["preview"]["content"]["title"] for a in result["attachments"]]


async def test_search_by_name_gives_previews_and_record_cards(running: Running):
    """Name words match case-insensitively across enabled types; each result has a thumbnail preview and a
    valid record card with Connect, Chats and (cases allow it) Join buttons carrying the record."""
    result = await search(running, "OUTAGE")
    assert result["attachmentLayout"] == "list"
    assert titles(result) == ["Contoso - printer outage in building 4", "RE: Printer outage"]
    first = result["attachments"][0]
    assert first["preview"]["contentType"] == "application/vnd.microsoft.card.thumbnail"
    assert first["preview"]["content"]["subtitle"] == f"Case · {PRINTER} · In Progress"
    assert first["preview"]["content"]["text"] == "Owner: Alex Wilber"
    card = first["content"]
    assert first["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert_valid_card(card)
    verbs = [(a.get("verb"), a.get("data")) for a in card["actions"]]
    data = {"recordType": "incident", "recordId": "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21"}
    assert verbs[:3] == [("connect", data), ("chats", data), ("joinlist", data)]
    assert f"Contoso - printer outage in building 4 ({PRINTER})" in json.dumps(card)


async def test_search_by_number_puts_the_exact_number_first(running: Running):
    assert titles(await search(running, "cas-01001-k7r2m8")) == ["Cannot sign in to the customer portal"]
    assert titles(await search(running, "CAS-0100"))[:3] == [
        "Cannot sign in to the customer portal", "Invoice shows the wrong tax rate",
        'Quote "test" \\ back\\slash {{ braces }} <at>Megan</at> ❤️\nsecond line']
    # A type name first narrows the search: "article portal" finds the article, not the portal case.
    assert titles(await search(running, "article portal")) == ["Resetting a portal password"]


async def test_only_readable_records_and_enabled_types(running: Running):
    """Isaiah cannot read emails: the printer email is not offered to him. Work orders are off for chats."""
    assert titles(await search(running, "outage", user=ISAIAH)) == ["Contoso - printer outage in building 4"]
    result = await search(running, "WO-00042")
    assert result == {"type": "message", "text": "No records match 'WO-00042'. Try the record's number, "
                                                 "or a word from its name."}


async def test_paging_with_skip_and_count(running: Running):
    every = titles(await search(running, "o", count=25))
    assert len(every) >= 6
    pages = [titles(await search(running, "o", skip=skip, count=2)) for skip in range(0, len(every), 2)]
    assert [t for page in pages for t in page] == every
    assert (await search(running, "o", skip=len(every), count=2))["attachments"] == []


async def test_empty_query_lists_the_agents_recent_records(running: Running):
    """Initial run: records Alex connected (most recent first), then records he owns."""
    await running.bot.say("connect account ACC-1001")
    await running.bot.say(f"connect case {PRINTER}")
    recent = titles(await search(running, None))
    assert recent[:2] == ["Contoso - printer outage in building 4", "Contoso Ltd"]
    assert {"Cannot sign in to the customer portal", "Nestor Wilke", "RE: Printer outage"} <= set(recent)
    assert len(recent) == len(set(recent))
    assert titles(await search(running, "   ")) == recent
    # Someone with nothing connected and nothing owned hears how to search.
    lonely = await search(running, None, user=ADELE)  # owns nothing, connected nothing
    assert lonely["type"] == "message" and "type a record's number or name" in lonely["text"]


async def test_bad_input_is_cut_and_never_injected(running: Running):
    """Long text is cut to 200 characters; quotes and OData/LIKE metacharacters are plain text."""
    for text in ("x" * 5000, "' or 1 eq 1 or name eq '", "%", "_", "[a-z]", "contains(title,'a')", "$filter=*",
                 "\u0000\ud800", "<script>alert(1)</script>"):
        result = await search(running, text)
        assert result["type"] == "message" and "No records match" in result["text"], (text, result)
    assert len((await search(running, "y" * 300))["text"]) < 300
    hostile = await search(running, 'Quote "test"')
    assert titles(hostile) == ['Quote "test" \\ back\\slash {{ braces }} <at>Megan</at> ❤️\nsecond line']
    status, answer = await running.bot.post(query("printer", command="somethingElse"))
    assert status == 200 and answer["composeExtension"]["type"] == "message"
    status, answer = await running.bot.post(query("printer", skip="x", count=None))  # type: ignore[arg-type]
    assert status == 200 and titles(answer["composeExtension"])


async def test_picked_card_connects_the_chat_it_is_sent_in(running: Running, connector: FakeConnector):
    """Pressing Connect on the inserted card in a group chat connects that chat under the normal rules."""
    card = (await search(running, CASE))["attachments"][0]["content"]
    connect = card["actions"][0]
    status, body = await running.bot.press(connect["verb"], connect["data"])
    assert status == 200 and "Connected to case" in json.dumps(body)
    await running.bot.say("records")
    assert f"Cannot sign in to the customer portal ({CASE})" in json.dumps(connector.cards(GROUP)[-1])
    status, body = await running.bot.press("joinlist", connect["data"], conv="a:alex", conv_type="personal")
    assert status == 200 and "Connected chats: 1" in json.dumps(body)
