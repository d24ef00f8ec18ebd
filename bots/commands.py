"""The core commands and card verbs: help, connect, disconnect, records, chats."""
from __future__ import annotations

from typing import Any

from bots import views
from bots.parsing import type_and_key
from bots.router import Router
from bots.turn import Answer, Reply, Turn
from domain.activity_pacer import WINDOW, ActivityPacer
from domain.model import ConversationRef
from domain.results import Refusal
from domain.service import ChatService, now

WELCOME = ("Hi! I connect this chat to CRM records (cases, accounts, contacts...). "
           "Try `connect case CAS-01001` or type `help`.")


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
    async def help_(turn: Turn, args: str) -> list[Reply]:
        return [Reply(text=views.help_text(turn.ctx.conversation_type))]

    async def connect(turn: Turn, args: str) -> list[Reply]:
        rtype, key = _record_args(args, "connect case CAS-01001")
        return views.connected(await service.connect(turn.ctx, rtype, key, turn.chat_title))

    async def disconnect(turn: Turn, args: str) -> list[Reply]:
        parsed = type_and_key(args) if args else None
        if args and parsed is None:
            raise Refusal("Say `disconnect` alone, or `disconnect <type> <key>`.")
        result = await service.disconnect(turn.ctx, *(parsed or (None, None)))
        return [Reply(card=views.disconnected_card(result))]

    async def records(turn: Turn, args: str) -> list[Reply]:
        if turn.ctx.conversation_type != "groupChat":
            raise Refusal("Only group chats have connected records. Use `chats <type> <key>` to see a record's chats.")
        return [Reply(card=views.records_card(await service.records_of_chat(turn.ctx)))]

    async def chats(turn: Turn, args: str) -> list[Reply]:
        rtype, key = _record_args(args, "chats case CAS-01001")
        return [Reply(card=views.chats_card(await service.chats_of_record(turn.ctx, rtype, key)))]

    for name, handler in (("help", help_), ("connect", connect), ("disconnect", disconnect),
                          ("records", records), ("chats", chats)):
        router.command(name, handler)

    async def verb_connect(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        result = await service.connect(turn.ctx, *_data(data), turn.chat_title)
        return views.connected_card(result)

    async def verb_disconnect(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        chat = data.get("chatId") if isinstance(data.get("chatId"), str) else None
        return views.disconnected_card(await service.disconnect(turn.ctx, *_data(data), chat_id=chat))

    async def verb_chats(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        return views.chats_card(await service.chats_of_record(turn.ctx, *_data(data)))

    async def verb_records(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        return views.records_card(await service.records_of_chat(turn.ctx))

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
            await service.connections.mark_bot_removed(ctx.tenant_id, ctx.conversation_id, now())
            return Answer()
        if turn.bot_added and ctx.conversation_type != "channel":
            await service.connections.save_conversation(
                ConversationRef(ctx.service_url, ctx.conversation_id, ctx.tenant_id, ctx.bot_id), turn.chat_title)
            return Answer(replies=[Reply(text=WELCOME)])
        return Answer()

    router.on_event(membership)
