"""The "Connect to record" message extension through real HTTP: fetchTask/submitAction invokes shaped as Teams sends
them, answers read from the HTTP response, cards read from the fake Bot Connector."""
from __future__ import annotations

from typing import Any

from tests.card_schema import assert_valid_card
from tests.conftest import Running
from tests.fake_connector import FakeConnector
from tests.teams import ADELE, ALEX, GROUP, ISAIAH, activity

CASE = "CAS-01001-K7R2M8"
TITLE = "Cannot sign in to the customer portal"
PERSONAL = "a:1personal-alex"


def extension(name: str, value: dict[str, Any], user: str = ALEX, conv: str = GROUP,
              conv_type: str = "groupChat") -> dict[str, Any]:
    body = activity("", user=user, conv=conv, conv_type=conv_type, mention=False)
    body.update(type="invoke", name=f"composeExtension/{name}", text=None,
                value={"commandId": "connectToRecord", "commandContext": "compose", "context": {"theme": "default"},
                       **value})
    return body


def submit(record_type: Any, key: Any, **kw: Any) -> dict[str, Any]:
    return extension("submitAction", {"data": {"action": "connectToRecord", "recordType": record_type,
                                               "recordKey": key}}, **kw)


def message_of(answer: Any) -> str:
    assert answer["task"]["type"] == "message", answer
    return str(answer["task"]["value"])


def texts(card: dict[str, Any]) -> str:
    return str(card)


async def test_fetch_task_offers_enabled_record_types(running: Running):
    """fetchTask opens a valid v1.5 card with a choice of the enabled record types (not the disabled work order)."""
    status, answer = await running.bot.post(extension("fetchTask", {}))
    assert status == 200
    task = answer["task"]
    assert task["type"] == "continue" and task["value"]["title"] == "Connect to record"
    assert task["value"]["card"]["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = task["value"]["card"]["content"]
    assert_valid_card(card)
    inputs = {item["id"]: item for item in card["body"] if item["type"].startswith("Input.")}
    choices = {c["value"]: c["title"] for c in inputs["recordType"]["choices"]}
    assert choices["incident"] == "Case" and choices["knowledgearticle"] == "Knowledge Article"
    assert "msdyn_workorder" not in choices
    assert inputs["recordType"]["value"] == "incident"
    assert inputs["recordKey"]["type"] == "Input.Text" and inputs["recordKey"]["isRequired"] is True


async def test_submit_connects_and_posts_cards(running: Running, connector: FakeConnector):
    """submitAction connects the chat, answers with a task message and posts the connected and context cards."""
    status, answer = await running.bot.post(submit("incident", CASE))
    assert status == 200
    assert message_of(answer) == f"Connected this chat to case {TITLE!r}."
    await connector.wait_for(GROUP, 2)
    cards = connector.cards(GROUP)
    assert len(cards) == 2
    assert "Connected to case by" in texts(cards[0]) and TITLE in texts(cards[1])
    assert "Open record" in texts(cards[1])
    await running.bot.say("records")
    assert TITLE in texts(connector.cards(GROUP)[-1])


async def test_submit_from_a_message_and_twice(running: Running, connector: FakeConnector):
    """From a message's menu (commandContext message, display names accepted) it connects; a second time it
    changes nothing and posts no card."""
    body = submit("Case", CASE.lower())
    body["value"].update(commandContext="message",
                         messagePayload={"id": "1732860000001", "body": {"contentType": "html", "content": "Help"}})
    status, answer = await running.bot.post(body)
    assert status == 200 and message_of(answer).startswith("Connected this chat to case")
    await connector.wait_for(GROUP, 2)
    status, answer = await running.bot.post(submit("incident", CASE))
    assert status == 200 and "already connected" in message_of(answer)
    assert len(connector.cards(GROUP)) == 2


async def test_bad_input_is_answered_with_a_message(running: Running, connector: FakeConnector):
    """Unknown type, unknown key, empty or missing fields, wrong types and no access: a task message, never 500."""
    cases = [
        (submit("spaceship", CASE), "I don't know the record type 'spaceship'"),
        (submit("incident", "CAS-99999"), "No case 'CAS-99999' was found"),
        (submit("incident", "   "), "Enter the record's number or id"),
        (submit("", CASE), "Choose a record type"),
        (submit(42, ["x"]), "Choose a record type"),
        (submit("incident", "K" * 201), "too long"),
        (extension("submitAction", {}), "The form came back empty"),
        (extension("submitAction", {"data": "incident"}), "The form came back empty"),
        (submit("msdyn_workorder", "WO-00042"), "hasn't turned that record type on"),
        (submit("knowledge article", "KA-01010", user=ISAIAH), "You don't have access"),
        (extension("submitAction", {"commandId": "somethingElse"}), "I don't know the message extension command"),
        (submit("incident", CASE, user="11111111-2222-3333-4444-555555555555"), "I don't know you"),
    ]
    for body, expected in cases:
        status, answer = await running.bot.post(body)
        assert status == 200, (body["value"], answer)
        assert expected in message_of(answer), (body["value"], answer)
    assert connector.by_conversation[GROUP] == []


async def test_personal_chat_and_channel_are_refused(running: Running, connector: FakeConnector):
    """In a 1:1 chat or a channel the form doesn't open and submitting connects nothing."""
    for conv, conv_type, where in ((PERSONAL, "personal", "one-to-one chat"),
                                   ("19:chan@thread.tacv2", "channel", "a channel")):
        for body in (extension("fetchTask", {}, conv=conv, conv_type=conv_type),
                     submit("incident", CASE, conv=conv, conv_type=conv_type)):
            status, answer = await running.bot.post(body)
            assert status == 200
            assert "Only group chats can be connected" in message_of(answer) and where in message_of(answer)
    status, answer = await running.bot.post(submit("incident", CASE, user=ADELE))
    assert message_of(answer).startswith("Connected")  # the refusals above stored nothing


async def test_unknown_user_gets_no_form(running: Running):
    """fetchTask for someone the CRM doesn't know answers with why, instead of a form that can't work."""
    status, answer = await running.bot.post(extension("fetchTask", {}, user="11111111-2222-3333-4444-555555555555"))
    assert status == 200 and "I don't know you" in message_of(answer)


async def test_connected_but_card_not_posted_is_said(running: Running, connector: FakeConnector):
    """When the Bot Connector refuses the post (app not in the chat), the user hears the chat is connected anyway."""
    connector.gone.add(GROUP)
    status, answer = await running.bot.post(submit("incident", CASE))
    assert status == 200
    text = message_of(answer)
    assert text.startswith("Connected this chat to case") and "couldn't post its card" in text and "403" in text


async def test_card_post_failing_after_the_budget_is_reported_in_the_chat(running: Running,
                                                                         connector: FakeConnector):
    """Teams is slow, then refuses the card: the invoke is answered within the budget, and once the post fails in
    the background the chat is told the card is missing (not only the server log)."""
    connector.fail_next(502, after=4.0)  # beyond bots/background.py's INVOKE_BUDGET
    status, answer = await running.bot.post(submit("incident", CASE))
    assert status == 200 and message_of(answer) == f"Connected this chat to case {TITLE!r}."
    await connector.wait_for(GROUP, 1, seconds=8.0)
    [report] = connector.texts(GROUP)
    assert report.startswith(f"I connected this chat to case {TITLE!r}, but I couldn't post its card here")
    assert "502" in report
