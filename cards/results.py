"""Domain results -> Adaptive Cards (from cards/templates): shared by the bot, the tabs and the notifications, so no
door needs another door's builders."""
from __future__ import annotations

from typing import Any

from cards.render import render
from domain.collab import NewChat
from domain.results import ChatList, Connected, ContextNote, Disconnected, Notice, RecordList


def connected_cards(c: Connected) -> list[dict[str, Any]]:
    """What a chat sees when it has just been connected: the confirmation, then the record's context note."""
    return [connected_card(c)] + ([context_card(c.note)] if c.note else [])


def connected_card(c: Connected) -> dict[str, Any]:
    return render("connected", c=c)


def context_card(note: ContextNote) -> dict[str, Any]:
    return render("context", note=note)


def disconnected_card(d: Disconnected) -> dict[str, Any]:
    return render("disconnected", d=d)


def records_card(r: RecordList) -> dict[str, Any]:
    return render("records", items=r.items, chat_id=r.chat_id)


def chats_card(c: ChatList) -> dict[str, Any]:
    return render("chats", l=c)


def notice_card(n: Notice) -> dict[str, Any]:
    return render("notice", text=n.text, ok=n.ok)


def new_chat_card(chat: NewChat) -> dict[str, Any]:
    return render("newchat", c=chat)
