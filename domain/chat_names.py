"""Chat display names and what the service knows about chats it is in: the topic when the chat has one, else
the members' names the way Teams shows an untitled chat; which people were seen in which chat (membership
metadata, never message text), so lists can show members their own chats and the record page can offer an
agent's recent chats by name."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from urllib.parse import quote

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
    seen_at: datetime | None = None


@dataclass(frozen=True)
class Roster:
    """A chat's topic (empty when untitled) and its people as (Entra object id, display name)."""
    topic: str
    members: tuple[tuple[str, str], ...]


class ChatDirectory(Protocol):
    """Chat names and the people seen in each chat the bot is in."""

    async def rename(self, tenant_id: str, chat_id: str, topic: str) -> bool:
        """Store the chat's topic; True when it changed (connections show the new name)."""
    async def set_members(self, tenant_id: str, chat_id: str, members: Sequence[tuple[str, str]],
                          at: datetime) -> None:
        """The whole member list as the chat has it now: names the untitled chat, records who is in it."""
    async def seen(self, tenant_id: str, chat_id: str, aad_object_id: str, at: datetime) -> bool:
        """Note activity of this person in the chat; True when it was written (not within the last minutes)."""
    async def left(self, tenant_id: str, chat_id: str, aad_object_id: str) -> None: ...
    async def forget_members(self, tenant_id: str, chat_id: str) -> None:
        """The bot left the chat: who is in it is no longer the service's business."""
    async def is_member(self, tenant_id: str, chat_id: str, aad_object_id: str) -> bool: ...
    async def names(self, tenant_id: str, chat_ids: Sequence[str]) -> dict[str, str]:
        """Display names of these chats (only those the service knows)."""
    async def recent(self, tenant_id: str, aad_object_id: str, limit: int = 20) -> Sequence[KnownChat]:
        """Group chats the bot is in where this person was seen, most recent first."""
