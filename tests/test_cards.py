"""Cards are valid Adaptive Cards 1.5 and show hostile record text exactly as it is."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from cards.render import MAX_CARD_BYTES, render
from cards.results import records_card
from domain.model import Connection, Record, RecordType
from domain.results import ChatItem, ChatList, Connected, ContextNote, Disconnected, RecordItem, RecordList
from tests.card_schema import assert_valid_card, card_texts

HOSTILE = [
    'He said "stop" and left',
    "C:\\Users\\agent\\new\\table",
    "line one\nline two\r\n\ttabbed",
    "{{ record.secret }} {% raw %} ${price} {{DATE(2026-01-01T00:00:00Z)}}",
    "<at>Megan Bowen</at> <script>alert(1)</script> &amp; &lt;b&gt;",
    "Emoji 😀🎉 ❤️ and accents éàü 中文 עברית",
    "**not bold** _not italic_ [link](http://evil.example) # heading",
    "\u0000\u001f control \u2028 separators \u2029",
    "x" * 10_000,
]


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_value_renders_intact_in_valid_card(value):
    """Any record text yields a valid card that shows the text unchanged (JSON-escaped, never concatenated)."""
    note = ContextNote("Case", value, "https://crm.example/x?a=1&b=\"2\"", [("Title", value), (value, "label")])
    card = render("context", note=note)
    assert_valid_card(card)
    assert card_texts(card).count(value) >= 2
    assert json.loads(json.dumps(card)) == card


def test_card_stays_under_teams_size_limit():
    """Five 10 000-character emoji values still fit in one Teams message."""
    huge = "😀" * 10_000
    card = render("context", note=ContextNote("Case", huge, "https://x", [(f"F{i}", huge) for i in range(5)]))
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= MAX_CARD_BYTES
    assert_valid_card(card)
    assert any(t.endswith("(truncated)") for t in card_texts(card))


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
def test_records_card_built_as_dicts_shows_hostile_text_intact(value):
    """The records card (built without a template) keeps record text and names exactly as they are."""
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    card = records_card(RecordList("19:chat", [RecordItem(Record("incident", "id-1", value, url="https://x/?a=\"1\""),
                                                          value, value, now, True)]))
    assert_valid_card(card)
    assert card_texts(card).count(value) >= 2
    assert json.loads(json.dumps(card)) == card


def test_records_card_with_many_long_names_fits():
    """30 records named with 2,000 emoji each: the card is shortened to fit one Teams message."""
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    items = [RecordItem(Record("incident", f"id-{i}", "😀" * 2000, url="https://x"), "Case", "Alex", now, True)
             for i in range(30)]
    card = records_card(RecordList("19:chat", items))
    assert len(json.dumps(card, ensure_ascii=False).encode()) <= MAX_CARD_BYTES
    assert any(t.endswith("(truncated)") for t in card_texts(card))


def _objects():
    now = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    rtype = RecordType("incident", "Case", "title")
    record = Record("incident", "id-1", 'Case "1"', url="https://x/r?id=1")
    conn = Connection(1, "t", "incident", "id-1", "19:chat", "u", now)
    return now, rtype, record, conn


def test_every_card_template_is_valid():
    """connected, disconnected, records, chats (with join states) and notice cards validate against the schema."""
    now, rtype, record, conn = _objects()
    cards = [
        render("connected", c=Connected(record, rtype, conn, True, None, "Alex")),
        render("disconnected", d=Disconnected(record, rtype, conn, "Alex")),
        records_card(RecordList("19:chat", [RecordItem(record, "Case", "Alex", now, True),
                                            RecordItem(record, "Case", "Alex", now, False)])),
        records_card(RecordList("19:chat", [])),
        render("chats", l=ChatList(record, rtype, [
            ChatItem("19:a", "A", "Alex", now, True, False, True, ""),
            ChatItem("19:b", "B", "Alex", now, False, False, False, "read-only access"),
            ChatItem("19:c", "C", "Alex", now, False, True, True, "")], join_view=True)),
        render("notice", text="<b>no</b>", ok=False),
    ]
    for card in cards:
        assert_valid_card(card)


def test_buttons_are_execute_with_submit_fallback():
    """Action.Execute buttons carry recordType/recordId/chatId and an Action.Submit fallback with the verb."""
    _, rtype, record, conn = _objects()
    card = render("connected", c=Connected(record, rtype, conn, True, None, "Alex"))
    action = card["actions"][0]
    assert action["type"] == "Action.Execute" and action["verb"] == "disconnect"
    assert action["data"] == {"recordType": "incident", "recordId": "id-1", "chatId": "19:chat"}
    assert action["fallback"]["type"] == "Action.Submit"
    assert action["fallback"]["data"] == dict(action["data"], verb="disconnect")
