"""Results from the domain -> bot replies (the cards themselves are built by cards/results.py)."""
from __future__ import annotations

from collections.abc import Iterable

from bots.router import Command
from bots.turn import Reply
from cards.results import connected_cards
from domain.results import Connected


def help_text(commands: Iterable[Command], conversation_type: str) -> str:
    scope = "groupChat" if conversation_type == "groupChat" else "personal"
    lines = ["Here's what I can do here:"]
    lines += [f"- **{c.usage}**: {c.description}" for c in commands if scope in c.scopes]
    if scope == "personal":
        lines.append("In a group chat you can also connect, disconnect and list that chat's records.")
    return "\n".join(lines)


def connected(c: Connected) -> list[Reply]:
    if not c.created:
        return [Reply(text=f"This chat is already connected to {c.rtype.display_name.lower()} "
                           f"{c.record.name!r}; nothing changed.")]
    return [Reply(card=card) for card in connected_cards(c)]
