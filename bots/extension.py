"""The "Connect to record" action message extension (manifest command `connectToRecord`, from the compose box, the
command box or a message's "..." menu): a task module asks for a record type and key, then the current chat is
connected. An invoke answer can only carry a short message back to the user, so the confirmation and context cards
go into the chat through the Bot Connector."""
from __future__ import annotations

import logging
from typing import Any

from bots import replies
from bots.background import Background
from bots.router import CARD, Router
from bots.turn import Answer, InvokeResult, Turn
from cards.render import render
from domain.ports import DeliveryError
from domain.results import Connected, Refusal
from domain.service import ChatService
from teams.connector import ConnectorClient, envelope

log = logging.getLogger(__name__)
COMMAND_ID = "connectToRecord"
TITLE = "Connect to record"
MAX_KEY = 200
MAX_TYPE = 100


def task_message(text: str) -> Answer:
    """The task module closes (or never opens) and Teams shows `text` to the user."""
    return Answer(invoke=InvokeResult(200, {"task": {"type": "message", "value": text}}))


def task_card(card: dict[str, Any]) -> Answer:
    value = {"title": TITLE, "height": "small", "width": "medium", "card": {"contentType": CARD, "content": card}}
    return Answer(invoke=InvokeResult(200, {"task": {"type": "continue", "value": value}}))


def _command(turn: Turn) -> str | None:
    """Why this invoke can't be handled here, or None."""
    value = turn.value or {}
    if value.get("commandId") != COMMAND_ID:
        return f"I don't know the message extension command {str(value.get('commandId'))[:60]!r}."
    if turn.ctx.conversation_type != "groupChat":
        where = "a channel" if turn.ctx.conversation_type == "channel" else "a one-to-one chat"
        return (f"Only group chats can be connected to records, and this is {where}. "
                "Open \"Connect to record\" from a group chat's compose box or from a message in a group chat.")
    return None


def _submitted(turn: Turn) -> tuple[str, str]:
    """The record type and key typed into the task module; Refusal saying what's wrong otherwise."""
    data = (turn.value or {}).get("data")
    if not isinstance(data, dict):
        raise Refusal("The form came back empty: choose a record type, enter its key and press Connect.")
    rtype, key = data.get("recordType"), data.get("recordKey")
    rtype = rtype.strip() if isinstance(rtype, str) else ""
    key = key.strip() if isinstance(key, str) else ""
    if not rtype:
        raise Refusal("Choose a record type, then press Connect.")
    if not key:
        raise Refusal("Enter the record's number or id, then press Connect.")
    if len(rtype) > MAX_TYPE or len(key) > MAX_KEY:
        raise Refusal(f"That record type or key is too long (a key has at most {MAX_KEY} characters).")
    return rtype, key


def register(router: Router, service: ChatService, connector: ConnectorClient, background: Background) -> None:
    async def fetch_task(turn: Turn) -> Answer:
        problem = _command(turn)
        if problem:
            return task_message(problem)
        try:
            _, settings = await service.actor(turn.ctx)
        except Refusal as refusal:
            return task_message(str(refusal))
        types = [t for t in await service.records.record_types() if settings.for_type(t.logical_name)]
        if not types:
            return task_message("Your administrator hasn't turned on any record type for chats yet.")
        names = [t.logical_name for t in types]
        card = render("connect_task", max_key=MAX_KEY, default="incident" if "incident" in names else names[0],
                      choices=[{"title": t.display_name, "value": t.logical_name} for t in types])
        return task_card(card)

    async def submit_action(turn: Turn) -> Answer:
        problem = _command(turn)
        if problem:
            return task_message(problem)
        try:
            result = await service.connect(turn.ctx, *_submitted(turn), turn.chat_title)
        except Refusal as refusal:
            return task_message(str(refusal))
        label = f"{result.rtype.display_name.lower()} {result.record.name or result.record.id!r}"
        if not result.created:
            return task_message(f"This chat is already connected to {label}; nothing changed.")
        failure = await _post_cards(connector, background, turn, result, label)
        if failure:
            return task_message(f"Connected this chat to {label}, but I couldn't post its card here ({failure}). "
                                "Is the app added to this chat?")
        return task_message(f"Connected this chat to {label}.")

    router.invoke("composeExtension/fetchTask", fetch_task)
    router.invoke("composeExtension/submitAction", submit_action)


async def _post_cards(connector: ConnectorClient, background: Background, turn: Turn, result: Connected,
                      label: str) -> str:
    """Post the connected and context cards; '' when they went out (or are still going out), else why not."""
    ctx = turn.ctx

    async def post_all() -> None:
        for reply in replies.connected(result):
            await connector.send(ctx.service_url, ctx.conversation_id,
                                 envelope(ctx.conversation_id, card=reply.card, text=reply.text))

    async def nothing_more(_: None) -> None:
        return None

    async def failed(exc: BaseException) -> None:
        await connector.send(ctx.service_url, ctx.conversation_id, envelope(
            ctx.conversation_id, text=f"I connected this chat to {label}, but I couldn't post its card here ({exc})."))

    try:
        await background.within(post_all(), "message extension: posting the connected cards",
                                finished=nothing_more, failed=failed)
    except DeliveryError as exc:
        return str(exc)
    return ""
