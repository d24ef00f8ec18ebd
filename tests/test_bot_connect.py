"""Connect, list and disconnect through real HTTP, with replies read from the fake Bot Connector."""
from __future__ import annotations

import asyncio

from tests.card_schema import card_texts
from tests.conftest import Running
from tests.fake_connector import FakeConnector
from tests.teams import ADELE, ALEX, GROUP, ISAIAH, MEGAN, activity

CASE = "CAS-01001-K7R2M8"
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"


def all_text(card: dict) -> str:
    return "\n".join(card_texts(card))


async def test_connect_posts_confirmation_and_context_card(running_any_db: Running, connector: FakeConnector):
    """CONN-02/CARD-01: connecting a group chat answers 200 and posts a confirmation and the context card."""
    status, _ = await running_any_db.bot.say(f"connect case {CASE}")
    assert status == 200
    cards = connector.cards(GROUP)
    assert len(cards) == 2
    assert "Cannot sign in to the customer portal" in all_text(cards[1])
    assert "High" in all_text(cards[1])  # priority from the Case introduction message view
    assert cards[1]["actions"][0]["url"].startswith("https://cc.example/tabs/record?type=incident")


async def test_connect_twice_keeps_one_connection_and_one_card(running: Running, connector: FakeConnector):
    """Connecting an already connected chat changes nothing: no second card."""
    await running.bot.say(f"connect case {CASE}")
    await running.bot.say(f"connect Case {CASE.lower()}", user=MEGAN)
    assert len(connector.cards(GROUP)) == 2
    assert "already connected" in connector.texts(GROUP)[-1]


async def test_concurrent_connects_leave_one_connection(running_any_db: Running, connector: FakeConnector):
    """Two agents connecting at the same moment leave one connection and one context card."""
    await asyncio.gather(*(running_any_db.bot.say(f"connect case {CASE}", user=u) for u in (ALEX, MEGAN) * 3))
    assert sum(1 for c in connector.cards(GROUP) if "Open record" in str(c)) == 1
    await running_any_db.bot.say("records")
    assert all_text(connector.cards(GROUP)[-1]).count("Cannot sign in") == 1


async def test_personal_chat_cannot_be_connected(running: Running, connector: FakeConnector):
    """CONN-01: a one-to-one chat is refused with an alternative, and nothing is stored."""
    await running.bot.say(f"connect case {CASE}", conv="a:personal-1", conv_type="personal")
    assert "Only group chats" in connector.texts("a:personal-1")[0]
    await running.bot.say(f"chats case {CASE}", conv="a:personal-1", conv_type="personal")
    assert "No chats are connected" in all_text(connector.cards("a:personal-1")[0])


async def test_channel_cannot_be_connected(running: Running, connector: FakeConnector):
    """CONN-01: channels are not connected by this feature."""
    await running.bot.say(f"connect case {CASE}", conv="19:chan@thread.tacv2", conv_type="channel")
    assert "this is a channel" in connector.texts("19:chan@thread.tacv2")[0]


async def test_unknown_user_gets_clear_message(running: Running, connector: FakeConnector):
    """A Teams user unknown to the directory is told so."""
    await running.bot.say(f"connect case {CASE}", user="11111111-2222-3333-4444-555555555555")
    assert "don't know you" in connector.texts(GROUP)[0]


async def test_read_access_is_needed_to_connect(running: Running, connector: FakeConnector):
    """To connect, the user must be able to read the record: Adele (read) can, Isaiah (none) can't."""
    await running.bot.say("connect knowledge article KA-01010", user=ISAIAH)
    assert "don't have access" in connector.texts(GROUP)[0]
    await running.bot.say(f"connect case {CASE}", user=ADELE)
    assert len(connector.cards(GROUP)) == 2


async def test_disconnect_alone_when_one_record(running: Running, connector: FakeConnector):
    """Plain `disconnect` works when exactly one record is connected, and keeps the history."""
    await running.bot.say(f"connect case {CASE}")
    await running.bot.say("disconnect")
    assert "Disconnected from case" in all_text(connector.cards(GROUP)[-1])
    await running.bot.say("records")
    assert "None yet" in all_text(connector.cards(GROUP)[-1])


async def test_unknown_command_and_type_and_key(running: Running, connector: FakeConnector):
    """Unknown commands, record types and keys get clear replies."""
    await running.bot.say("frobnicate")
    await running.bot.say("connect spaceship X-1")
    await running.bot.say("connect case CAS-00000-NOPE")
    texts = connector.texts(GROUP)
    assert "don't know the command 'frobnicate'" in texts[0]
    assert "don't know the record type 'spaceship'" in texts[1]
    assert "No case 'CAS-00000-NOPE' was found" in texts[2]


async def test_mention_stripped_and_case_insensitive(running: Running, connector: FakeConnector):
    """The bot's own <at> mention is removed before parsing and commands ignore case."""
    await running.bot.post(activity(f"CONNECT CASE {CASE}", service_url=connector.url))
    assert len(connector.cards(GROUP)) == 2


async def test_invoke_disconnect_answers_200_with_card(running_any_db: Running, connector: FakeConnector):
    """An Action.Execute invoke answers HTTP 200 with an updated card (not botbuilder's 500)."""
    await running_any_db.bot.say(f"connect case {CASE}")
    status, body = await running_any_db.bot.press(
        "disconnect", {"recordType": "incident", "recordId": CASE_ID, "chatId": GROUP})
    assert status == 200
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "Disconnected" in all_text(body["value"])


async def test_submit_fallback_runs_same_verb(running: Running, connector: FakeConnector):
    """The Action.Submit fallback (message with value.verb) does what the invoke does."""
    await running.bot.say(f"connect case {CASE}")
    body = activity("", service_url=connector.url, mention=False,
                    value={"verb": "records", "recordType": "incident", "recordId": CASE_ID, "chatId": GROUP})
    status, _ = await running.bot.post(body)
    assert status == 200
    assert "Records connected to this chat" in all_text(connector.cards(GROUP)[-1])


async def test_help_lists_commands(running: Running, connector: FakeConnector):
    """help answers with the command list for the scope."""
    await running.bot.say("help")
    assert "connect <type> <key>" in connector.texts(GROUP)[0]


async def test_disabled_record_type_refuses_new_connections(running: Running, connector: FakeConnector):
    """A record type the admin has not turned on (work order) cannot get new connections."""
    await running.bot.say("connect work order WO-00042", user=ISAIAH)
    assert "hasn't turned that record type on" in connector.texts(GROUP)[0]
