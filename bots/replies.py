"""Results from the domain -> replies (cards rendered from cards/templates)."""
from __future__ import annotations

from typing import Any

from bots.catalog import COMMANDS
from bots.turn import Reply
from cards.render import render
from domain.results import ChatList, Connected, Disconnected, Notice, RecordList


def help_text(conversation_type: str) -> str:
    scope = "groupChat" if conversation_type == "groupChat" else "personal"
    lines = ["Here's what I can do here:"]
    lines += [f"- **{c.usage}**: {c.description}" for c in COMMANDS if scope in c.scopes]
    if scope == "personal":
        lines.append("In a group chat you can also connect, disconnect and list that chat's records.")
    return "\n".join(lines)


def connected(c: Connected) -> list[Reply]:
    if not c.created:
        return [Reply(text=f"This chat is already connected to {c.rtype.display_name.lower()} "
                           f"{c.record.name!r}; nothing changed.")]
    replies = [Reply(card=render("connected", c=c))]
    if c.note:
        replies.append(Reply(card=render("context", note=c.note)))
    return replies


def connected_card(c: Connected) -> dict[str, Any]:
    return render("connected", c=c)


def disconnected_card(d: Disconnected) -> dict[str, Any]:
    return render("disconnected", d=d)


def records_card(r: RecordList) -> dict[str, Any]:
    return render("records", items=r.items, chat_id=r.chat_id)


def chats_card(c: ChatList) -> dict[str, Any]:
    return render("chats", l=c)


def notice_card(n: Notice) -> dict[str, Any]:
    return render("notice", text=n.text, ok=n.ok)
