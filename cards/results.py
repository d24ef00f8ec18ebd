"""Domain results -> Adaptive Cards (from cards/templates): shared by the bot, the tabs and the notifications, so no
door needs another door's builders."""
from __future__ import annotations

from typing import Any

from cards import blocks
from cards.render import MAX_CARD_BYTES, fit, render
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
    """Built as dicts, not from a template: it answers every `records` command and card button."""
    body = [blocks.plain("Records connected to this chat", weight="Bolder", size="Medium")]
    worst = 1000  # bytes the JSON could take at most: 6 per character of text (a \uXXXX escape), plus structure
    if not r.items:
        body.append(blocks.plain("None yet. Connect one with: connect <type> <key>", subtle=True))
    for item in r.items:
        record = item.record
        parts = [blocks.plain(item.type_label, size="Small", subtle=True),
                 blocks.plain(blocks.titled(record.name, record.id, record.number), weight="Bolder"),
                 blocks.small_subtle(f"Connected by {item.connected_by} on {blocks.when(item.connected_at)}")]
        buttons = [blocks.open_url("Open", record.url)] if record.url else []
        if item.can_disconnect:
            buttons.append(blocks.action("disconnect", "Disconnect",
                                         {"recordType": record.type, "recordId": record.id, "chatId": r.chat_id}))
        if buttons:
            parts.append({"type": "ActionSet", "actions": buttons})
        body.append({"type": "Container", "separator": True, "items": parts})
        worst += 1000 + 6 * (len(item.type_label) + len(record.name) + len(record.number or "")
                             + len(item.connected_by) + len(record.url)
                             + 2 * (len(record.type) + len(record.id) + len(r.chat_id)))
    card = blocks.card(body)
    return card if worst <= MAX_CARD_BYTES else fit(card)  # measuring it costs half the build: only if it could


def chats_card(c: ChatList) -> dict[str, Any]:
    return render("chats", l=c)


def notice_card(n: Notice) -> dict[str, Any]:
    return render("notice", text=n.text, ok=n.ok)


def new_chat_card(chat: NewChat) -> dict[str, Any]:
    return render("newchat", c=chat)
