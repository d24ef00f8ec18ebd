"""The command registry and dispatcher: routes a Turn to its handler, commands by their first word, card buttons
(Action.Execute and the Action.Submit fallback) by their verb. A command is registered with its `Command`
declaration (usage, help text, manifest scopes), so `help` lists exactly what is registered; bots/catalog.py
gathers the same declarations for the manifest and the README check. Nothing here knows botbuilder."""
from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from bots.parsing import split_command
from bots.turn import Answer, InvokeResult, Reply, Turn
from cards.results import notice_card
from domain.results import Notice, Refusal

log = logging.getLogger(__name__)
CommandHandler = Callable[[Turn, str], Awaitable[list[Reply]]]
VerbHandler = Callable[[Turn, dict[str, Any]], Awaitable[dict[str, Any]]]
EventHandler = Callable[[Turn], Awaitable[Answer]]
CARD = "application/vnd.microsoft.card.adaptive"
BOTH = ("personal", "groupChat")
GROUP = ("groupChat",)


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    description: str  # at most 128 characters: the manifest's limit for command descriptions
    scopes: tuple[str, ...] = BOTH


class Router:
    def __init__(self) -> None:
        self.declared: dict[str, Command] = {}
        self.commands: dict[str, CommandHandler] = {}
        self.verbs: dict[str, VerbHandler] = {}
        self.invokes: dict[str, EventHandler] = {}
        self.events: list[EventHandler] = []

    def command(self, command: Command, handler: CommandHandler) -> None:
        if command.name in self.commands:
            raise ValueError(f"command {command.name!r} is registered twice")
        self.declared[command.name] = command
        self.commands[command.name] = handler

    def listed(self) -> tuple[Command, ...]:
        """The registered commands, in registration order: what `help` shows."""
        return tuple(self.declared.values())

    def verb(self, name: str, handler: VerbHandler) -> None:
        self.verbs[name] = handler

    def invoke(self, name: str, handler: EventHandler) -> None:
        self.invokes[name] = handler

    def on_event(self, handler: EventHandler) -> None:
        """Conversation and installation updates, and any message (for timeline sync)."""
        self.events.append(handler)

    def label(self, turn: Turn) -> str:
        """The command, verb or invoke a turn asked for, for telemetry: only names this router knows (a sender's
        own words never become a label)."""
        if turn.kind == "invoke":
            if turn.name == "adaptiveCard/action":
                verb = ((turn.value or {}).get("action") or {}).get("verb")
                return f"verb:{verb}" if verb in self.verbs else "verb:unknown"
            return turn.name if turn.name in self.invokes else "invoke:other"
        if turn.kind != "message":
            return ""
        if turn.value and isinstance(turn.value.get("verb"), str):
            return f"verb:{turn.value['verb']}" if turn.value["verb"] in self.verbs else "verb:unknown"
        if not turn.text:
            return ""
        name, _ = split_command(turn.text)
        return name if name in self.commands else "unknown"

    async def handle(self, turn: Turn) -> Answer:
        answer = Answer()
        for handler in self.events:
            extra = await handler(turn)
            answer.replies += extra.replies
        if turn.kind == "message":
            answer.replies += await self._message(turn)
        elif turn.kind == "invoke":
            answer.invoke = await self._invoke(turn)
        return answer

    async def _message(self, turn: Turn) -> list[Reply]:
        if turn.value and isinstance(turn.value.get("verb"), str):  # Action.Submit fallback of a card button
            card = await self._run_verb(turn, str(turn.value["verb"]), turn.value)
            return [Reply(card=card)]
        if not turn.text or not turn.addressed:
            return []  # a message to the others in the chat (seen through ChatMessage.Read.Chat): no answer
        name, args = split_command(turn.text)
        handler = self.commands.get(name)
        if handler is None:
            return [Reply(text=f"I don't know the command {name!r}. Type **help** to see what I can do.")]
        try:
            return await handler(turn, args)
        except Refusal as refusal:
            return [Reply(text=str(refusal))]

    async def _invoke(self, turn: Turn) -> InvokeResult:
        if turn.name == "adaptiveCard/action":
            action = (turn.value or {}).get("action") or {}
            verb, data = action.get("verb"), action.get("data") or {}
            if not isinstance(verb, str) or not isinstance(data, dict):
                return InvokeResult(400, {"statusCode": 400, "type": "application/vnd.microsoft.error",
                                          "value": {"code": "BadRequest", "message": "action.verb is missing"}})
            card = await self._run_verb(turn, verb, data)
            return InvokeResult(200, {"statusCode": 200, "type": CARD, "value": card})
        handler = self.invokes.get(turn.name)
        if handler is None:
            return InvokeResult(200, {})  # Teams expects 200 for invokes this bot doesn't use
        answer = await handler(turn)
        return answer.invoke or InvokeResult(200, {})

    async def _run_verb(self, turn: Turn, verb: str, data: dict[str, Any]) -> dict[str, Any]:
        handler = self.verbs.get(verb)
        if handler is None:
            return notice_card(Notice(f"This button ({verb!r}) is not something I can do.", ok=False))
        try:
            return await handler(turn, data)
        except Refusal as refusal:
            return notice_card(Notice(str(refusal), ok=False))
