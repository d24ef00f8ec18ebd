"""Chat display names and the chats the bot is in: the topic when the chat has one, else the members' names the way
Teams shows an untitled chat. Who is in a chat is never kept: domain/membership.py asks Teams when it matters."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

from domain.model import ConversationRef

UNTITLED = "Group chat"
NAME_MAX = 200
SHOWN_MEMBERS = 2


def members_title(names: Sequence[str]) -> str:
    """'Alex Wilber, Megan Bowen and 3 others', as Teams names a chat without a topic."""
    clean = [n.strip() for n in names if n and n.strip()]
    if not clean:
        return ""
    if len(clean) <= SHOWN_MEMBERS + 1:
        shown = ", ".join(clean[:-1])
        return f"{shown} and {clean[-1]}"[:NAME_MAX] if shown else clean[0][:NAME_MAX]
    rest = len(clean) - SHOWN_MEMBERS
    return f"{', '.join(clean[:SHOWN_MEMBERS])} and {rest} others"[:NAME_MAX]


def display_name(topic: str, members: str) -> str:
    return (topic or "").strip()[:NAME_MAX] or members or UNTITLED


def chat_link(chat_id: str) -> str:
    """Teams deep link that opens an existing chat (members only; others see Teams' own refusal)."""
    return f"https://teams.microsoft.com/l/chat/{quote(chat_id, safe=':@')}/0"


@dataclass(frozen=True)
class KnownChat:
    chat_id: str
    name: str


@dataclass(frozen=True)
class BotChat:
    """A group chat the bot is in: where to post (and ask who is in it) and its display name."""
    ref: ConversationRef
    name: str


class ChatDirectory(Protocol):
    """Chat names, and the group chats the bot is in."""

    async def rename(self, tenant_id: str, chat_id: str, topic: str) -> bool:
        """Store the chat's topic; True when it changed (connections show the new name)."""
    async def name_from_members(self, tenant_id: str, chat_id: str, names: Sequence[str]) -> None:
        """Name the untitled chat from its members' display names as the chat has them now (names only)."""
    async def names(self, tenant_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        """Display names of these chats (only those the service knows)."""
    async def bot_chats(self, tenant_id: str, chat_ids: Sequence[str] | None = None,
                        limit: int = 30) -> Sequence[BotChat]:
        """The group chats the bot is in (not removed from): among `chat_ids` in their order, or without them the
        most recently added or connected first."""
