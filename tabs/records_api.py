"""The record view's JSON: a record's connected chats with the caller's disconnect and join state, and
connect/disconnect from outside a chat, enforcing the same rules as the bot (through ChatService)."""
from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from cards.results import connected_cards, context_card, disconnected_card
from domain.chat_names import chat_link
from domain.collab import Announce, CollabService
from domain.model import ConversationRef, Record, RecordType
from domain.ports import DeliveryError, GatewayError
from domain.results import ChatContext, ContextNote
from tabs.context import TabsContext
from tabs.http import ApiError, app_of, endpoint, json_body
from tabs.sso import Principal

log = logging.getLogger(__name__)
# Teams group chats (meeting chats included) have ids like 19:<hex>@thread.v2; channels end in @thread.tacv2 or
# @thread.skype and one-to-one chats start with a: or 8: - neither can be connected (CONN-01).
GROUP_CHAT = re.compile(r"^19:[A-Za-z0-9_\-.]{1,200}@thread\.v2$")


def context(who: Principal, app: str | None, chat_id: str = "", service_url: str = "", bot_id: str = "",
            kind: str = "tab") -> ChatContext:
    return ChatContext(tenant_id=who.tenant_id, conversation_id=chat_id, conversation_type=kind,
                       user_aad=who.aad_object_id, user_name=who.name, service_url=service_url, bot_id=bot_id,
                       app=app)


def bot_command(verb: str, rtype: RecordType, record: Record) -> str:
    return f"{verb} {rtype.display_name.lower()} {record.number or record.id}"


async def connections(tabs: TabsContext, who: Principal, type_name: str, key: str,
                      app: str | None) -> dict[str, Any]:
    """Everything the record view shows; raises Refusal (403) or ApiError (404)."""
    user, settings = await tabs.service.actor(context(who, app))
    rtype, record = await _resolve(tabs, type_name, key, who)
    listed = await tabs.service.record_chats(who.tenant_id, user, settings, rtype, record, join_view=True)
    chats = [{"chat_id": c.chat_id, "title": c.title, "connected_by": c.connected_by,
              "connected_at": c.connected_at.isoformat(),
              "can_disconnect": c.can_disconnect, "disconnect_reason": c.disconnect_reason,
              "can_join": c.can_join, "join_reason": c.locked_reason or "you can join this chat",
              "is_member": c.is_member, "open_url": chat_link(c.chat_id)} for c in listed.chats]
    connected = {c["chat_id"] for c in chats}
    membership = tabs.service.membership
    recent = await membership.recent(who.tenant_id, who.aad_object_id) if membership and who.aad_object_id else []
    return {
        # The caller's recent chats with this app in them, by name, to connect without typing a chat id.
        "recent_chats": [{"chat_id": k.chat_id, "name": k.name} for k in recent if k.chat_id not in connected],
        "timeline": await _timeline(tabs, record),
        "record": {"type": rtype.logical_name, "type_label": rtype.display_name, "id": record.id,
                   "name": record.name, "number": record.number, "url": record.url},
        "access": listed.access, "app": app, "chats": chats,
        "join_enabled": listed.join_enabled,
        "join_available": tabs.gateway is not None,
        "connect_allowed": not listed.connect_refusal,
        "connect_reason": listed.connect_refusal,
        "connect_command": bot_command("connect", rtype, record),
        "join_command": bot_command("join", rtype, record),
    }


async def _timeline(tabs: TabsContext, record: Record) -> list[dict[str, Any]]:
    """The record's synced chats: who linked each and when, who wrote last and when (never any text)."""
    try:
        items = await tabs.service.records.timeline_chats(record)
    except GatewayError:
        return []
    return [{"chat_id": i.chat_id, "linked_by": i.linked_by, "linked_on": i.linked_on.isoformat(),
             "linked": i.linked, "unlinked_on": i.unlinked_on.isoformat() if i.unlinked_on else None,
             "last_sender": i.last_sender,
             "last_message_on": i.last_message_on.isoformat() if i.last_message_on else None,
             "open_url": chat_link(i.chat_id)} for i in items]


async def _resolve(tabs: TabsContext, type_name: str, key: str, who: Principal | None = None
                   ) -> tuple[RecordType, Record]:
    """Read as the signed-in agent when known, so the page shows what Dataverse lets them see."""
    try:
        found = await tabs.service.find_record(type_name, key, who.user if who is not None else None)
    except GatewayError as exc:
        raise ApiError(403, f"the record could not be read for you: {exc}") from None
    if found is None:
        raise ApiError(404, f"no {type_name} record {key!r} was found")
    return found


@endpoint()
async def get_connections(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    info = request.match_info
    return web.json_response(await connections(tabs, who, info["type"], info["key"], app_of(request)))


async def _chat_id(request: web.Request) -> str:
    body = await json_body(request)
    chat = body.get("chatId") if isinstance(body, dict) else None
    if not isinstance(chat, str) or not chat.strip():
        raise ApiError(400, 'send {"chatId": "19:...@thread.v2"}', "chatId")
    return chat.strip()


@endpoint()
async def connect(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    chat, app = await _chat_id(request), app_of(request)
    if not GROUP_CHAT.match(chat):
        raise ApiError(400, "only group chats can be connected (their ids look like 19:...@thread.v2); "
                            "channels and one-to-one chats cannot", "chatId")
    ref = await tabs.service.conversation(who.tenant_id, chat)
    if ref is None:
        raise ApiError(409, "the bot is not in that chat: add the Connected Chats app to the chat first, "
                            "or type the connect command there", "chatId")
    await require_member(tabs, who, chat)
    ctx = context(who, app, chat, ref.service_url, ref.bot_id, kind="groupChat")
    result = await tabs.service.connect(ctx, request.match_info["type"], request.match_info["key"])
    cards = connected_cards(result) if result.created else []
    posted = await _post(tabs, ref, cards) if cards else False
    return web.json_response({"created": result.created, "chat_id": chat, "posted": posted},
                             status=201 if result.created else 200)


async def require_member(tabs: TabsContext, who: Principal, chat: str) -> None:
    """Connecting from outside a chat must not let anyone connect a chat they are not in (asked of Teams now)."""
    member = await tabs.service.is_member(who.tenant_id, chat, who.aad_object_id)
    if member is None:
        if tabs.config.local_mode:
            return  # local mode trusts every caller, as the bot does without an app id
        raise ApiError(502, "could not check that you are in the chat (Teams did not answer): try again, or "
                            "connect the chat from inside it with the connect command")
    if not member:
        raise ApiError(403, "you can only connect chats you are a member of", "chatId")


@endpoint()
async def disconnect(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    chat, app = await _chat_id(request), app_of(request)
    user, _ = await tabs.service.actor(context(who, app))
    rtype, record = await _resolve(tabs, request.match_info["type"], request.match_info["key"])
    if await tabs.service.active_connection(who.tenant_id, rtype.logical_name, record.id, chat) is None:
        raise ApiError(409, f"that chat isn't connected to {rtype.display_name.lower()} {record.name!r}", "chatId")
    result = await tabs.service.disconnect(context(who, app), rtype.logical_name, record.id, chat_id=chat)
    ref = await tabs.service.conversation(who.tenant_id, chat)
    posted = await _post(tabs, ref, [disconnected_card(result)]) if ref else False
    return web.json_response({"disconnected": True, "chat_id": chat, "posted": posted, "by": user.name})


@endpoint()
async def join(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    """JOIN-01/03: add the caller to a connected chat with its whole history (needs Microsoft Graph)."""
    chat, app = await _chat_id(request), app_of(request)
    if tabs.gateway is None:
        raise ApiError(409, "joining needs Microsoft Graph, which this server is not configured for")
    collab = CollabService(tabs.service, tabs.gateway, announce(tabs))
    rtype, record = await _resolve(tabs, request.match_info["type"], request.match_info["key"])
    message = await collab.join(context(who, app), rtype.logical_name, record.id, chat)
    return web.json_response({"chat_id": chat, "message": message})


def announce(tabs: TabsContext) -> Announce:
    async def announce(ref: ConversationRef, note: ContextNote) -> None:
        await tabs.connector.post(ref, context_card(note))
    return announce


async def _post(tabs: TabsContext, ref: ConversationRef, cards: list[dict[str, Any]]) -> bool:
    """Tell the chat what happened, as the bot would; the change stands even if Teams cannot be reached."""
    try:
        for card in cards:
            await tabs.connector.post(ref, card)
    except DeliveryError as exc:
        log.warning("could not post into chat %s: %s", ref.conversation_id, exc)
        return False
    return True


def routes(app: web.Application) -> None:
    base = "/api/records/{type}/{key}"
    app.router.add_get(base + "/connections", get_connections)
    app.router.add_post(base + "/connect", connect)
    app.router.add_post(base + "/disconnect", disconnect)
    app.router.add_post(base + "/join", join)
