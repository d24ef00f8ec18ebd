"""The botbuilder-free shape of one Teams activity, and what handlers answer with."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from domain.results import ChatContext


@dataclass(frozen=True)
class Mention:
    id: str
    name: str
    aad_object_id: str = ""


@dataclass(frozen=True)
class Turn:
    kind: str  # message | invoke | conversationUpdate | installationUpdate | ...
    ctx: ChatContext
    text: str = ""  # the bot's own mention removed
    name: str = ""  # invoke name
    value: dict[str, Any] | None = None
    activity_id: str = ""
    mentions: tuple[Mention, ...] = ()
    bot_added: bool = False
    bot_removed: bool = False
    chat_title: str = ""
    topic: str | None = None  # conversationUpdate topicName: the chat was renamed (empty: the topic was removed)
    joined: tuple[Mention, ...] = ()  # people (not the bot) added to the conversation
    left: tuple[Mention, ...] = ()
    # Meant for the bot: it was @mentioned, or the chat is one-to-one. With ChatMessage.Read.Chat the bot also
    # receives every other message of its group chats; those only move the timeline, never get an answer.
    addressed: bool = True


@dataclass(frozen=True)
class Reply:
    text: str | None = None
    card: dict[str, Any] | None = None


@dataclass(frozen=True)
class InvokeResult:
    status: int
    body: dict[str, Any] | None = None


@dataclass
class Answer:
    replies: list[Reply] = field(default_factory=list)
    invoke: InvokeResult | None = None
