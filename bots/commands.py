"""The core commands and card verbs: help, connect, disconnect, records, chats."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from bots import replies
from bots.parsing import type_and_key
from bots.record_links import record_link
from bots.router import BOTH, GROUP, Command, Router
from bots.turn import Answer, Reply, Turn
from cards.results import chats_card, connected_card, disconnected_card, records_card
from domain.activity_pacer import WINDOW, ActivityPacer
from domain.results import ChatContext, Refusal
from domain.service import ChatService, now

WELCOME = ("Hi! I connect this chat to CRM records (cases, accounts, contacts...). "
           "Try `connect case CAS-01001` or type `help`.")
HELP = Command("help", "help", "Show what this bot can do here.", BOTH)
CONNECT = Command("connect", "connect <type> <key>",
                  "Connect this group chat to a record, e.g. connect case CAS-01001.", GROUP)
DISCONNECT = Command("disconnect", "disconnect [<type> <key>]",
                     "Disconnect this group chat from a record (type and key can be left out if only one is "
                     "connected).", GROUP)
RECORDS = Command("records", "records", "List the records connected to this chat.", GROUP)
CHATS = Command("chats", "chats <type> <key>", "List the chats connected to a record.", BOTH)
COMMANDS = (HELP, CONNECT, DISCONNECT, RECORDS, CHATS)


def _record_args(args: str, usage: str) -> tuple[str, str]:
    parsed = type_and_key(args)
    if parsed is None:
        raise Refusal(f"Please say which record, like this: `{usage}`.")
    return parsed


def _data(data: dict[str, Any]) -> tuple[str, str]:
    rtype, rid = data.get("recordType"), data.get("recordId")
    if not isinstance(rtype, str) or not isinstance(rid, str) or not rtype or not rid:
        raise Refusal("This button is missing its record; run the command again.")
    return rtype, rid


def register(router: Router, service: ChatService, activity_window: float = WINDOW) -> None:
    helps: dict[tuple[bool, int], str] = {}  # the same text every time for a scope, until a command is added

    async def help_(turn: Turn, args: str) -> list[Reply]:
        key = (turn.ctx.conversation_type == "groupChat", len(router.declared))
        text = helps.get(key)
        if text is None:
            text = helps[key] = replies.help_text(router.listed(), turn.ctx.conversation_type)
        return [Reply(text=text)]

    async def with_link(turn: Turn, args: str, usage: str) -> tuple[ChatContext, str, str]:
        """The record from `<type> <key>` or from a CRM record link; a link's appid sets the app (EN-02)."""
        link = record_link(args)
        if link is None:
            return (turn.ctx, *_record_args(args, usage))
        app = await service.app_name(link.app_id) if link.app_id else None
        return replace(turn.ctx, app=app or turn.ctx.app), link.table, link.record_id

    async def connect(turn: Turn, args: str) -> list[Reply]:
        ctx, rtype, key = await with_link(turn, args, "connect case CAS-01001")
        return replies.connected(await service.connect(ctx, rtype, key, turn.chat_title))

    async def disconnect(turn: Turn, args: str) -> list[Reply]:
        parsed = type_and_key(args) if args else None
        if args and parsed is None:
            raise Refusal("Say `disconnect` alone, or `disconnect <type> <key>`.")
        result = await service.disconnect(turn.ctx, *(parsed or (None, None)))
        return [Reply(card=disconnected_card(result))]

    async def records(turn: Turn, args: str) -> list[Reply]:
        if turn.ctx.conversation_type != "groupChat":
            raise Refusal("Only group chats have connected records. Use `chats <type> <key>` to see a record's chats.")
        return [Reply(card=records_card(await service.records_of_chat(turn.ctx)))]

    async def chats(turn: Turn, args: str) -> list[Reply]:
        ctx, rtype, key = await with_link(turn, args, "chats case CAS-01001")
        return [Reply(card=chats_card(await service.chats_of_record(ctx, rtype, key)))]

    for command, handler in ((HELP, help_), (CONNECT, connect), (DISCONNECT, disconnect),
                             (RECORDS, records), (CHATS, chats)):
        router.command(command, handler)

    async def verb_connect(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        result = await service.connect(turn.ctx, *_data(data), turn.chat_title)
        return connected_card(result)

    async def verb_disconnect(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        chat = data.get("chatId") if isinstance(data.get("chatId"), str) else None
        return disconnected_card(await service.disconnect(turn.ctx, *_data(data), chat_id=chat))

    async def verb_chats(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        return chats_card(await service.chats_of_record(turn.ctx, *_data(data)))

    async def verb_records(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        return records_card(await service.records_of_chat(turn.ctx))

    for name, vhandler in (("connect", verb_connect), ("disconnect", verb_disconnect), ("chats", verb_chats),
                           ("records", verb_records)):
        router.verb(name, vhandler)

    pacer = ActivityPacer(service.chat_activity, activity_window)

    async def membership(turn: Turn) -> Answer:
        ctx = turn.ctx
        if turn.kind == "message":
            if ctx.conversation_type == "groupChat":
                await pacer.seen(ctx, now())
            return Answer()
        if turn.bot_removed:
            await service.bot_removed(ctx)
            return Answer()
        if turn.bot_added and ctx.conversation_type != "channel":
            await service.bot_added(ctx, turn.chat_title)
            return Answer(replies=[Reply(text=WELCOME)])
        return Answer()

    router.on_event(membership)
