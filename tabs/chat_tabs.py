"""The Records tab of a group chat (configurable tab, groupChat scope) and the personal "My records" tab.

The chat tab shows the chat's connected records with their key fields, disconnect under the usual rules, each
record's other chats with Join (or Open chat for members), and a search to connect another record; only members
of the chat may see it. "My records" lists the records the agent connected or owns, with their chats, and the
same search. Both are server-rendered fragments behind Teams SSO, like the other tab pages; the connect,
disconnect and join buttons call the record API (tabs/records_api.py)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain import rules
from domain.chat_names import UNTITLED, chat_link
from domain.collab import CollabService
from domain.results import ChatContext, ChatItem, ChatList, Refusal
from domain.search import SearchPage
from tabs import records_api
from tabs.context import TabsContext
from tabs.http import ApiError, endpoint, query_text
from tabs.pages import html, shell
from tabs.sso import Principal

PAGE = 10  # records per search in a tab


async def chat_page(request: web.Request) -> web.Response:
    # The chat's id comes from the Teams context (or ?chat= in a plain browser): the page script asks for it.
    return shell(request, "chat", "Records of this chat", "")


async def my_page(request: web.Request) -> web.Response:
    return shell(request, "my", "My records", "/tabs/my/panel")


async def chat_config_page(request: web.Request) -> web.Response:
    return shell(request, "chatconfig", "Add the Records tab", "")


def _ctx(who: Principal, chat: str = "", service_url: str = "", bot_id: str = "") -> ChatContext:
    return records_api.context(who, None, chat, service_url, bot_id, kind="groupChat" if chat else "tab")


async def _chat_of(request: web.Request, tabs: TabsContext, who: Principal) -> ChatContext:
    """The chat this tab is in; only a member of it may see or change its records."""
    chat = query_text(request, "chat")
    if not records_api.GROUP_CHAT.match(chat):
        raise ApiError(400, "this tab works in group chats: open it from a group chat's Records tab", "chat")
    ref = await tabs.service.conversation(who.tenant_id, chat)
    if ref is None:
        raise ApiError(409, "add the Connected Chats app to this chat first (the tab needs the bot in the chat)")
    ctx = _ctx(who, chat, ref.service_url, ref.bot_id)
    await records_api.require_member(tabs, who, chat)
    return ctx


async def _chats(tabs: TabsContext, ctx: ChatContext, record_type: str, record_id: str) -> ChatList | None:
    """The record's chats as the caller may see them (None when they cannot read the record)."""
    try:
        if tabs.gateway is not None:
            return await CollabService(tabs.service, tabs.gateway, records_api.announce(tabs)).join_view(
                ctx, record_type, record_id)
        return await tabs.service.chats_of_record(ctx, record_type, record_id)
    except Refusal:
        return None


def _chat_rows(listing: ChatList | None, skip: str = "") -> list[dict[str, Any]] | None:
    if listing is None:
        return None
    return [{"chat_id": c.chat_id, "title": c.title or UNTITLED, "is_member": bool(c.is_member),
             "can_join": c.can_join and not c.is_member, "locked": _locked(listing, c),
             "open_url": chat_link(c.chat_id)} for c in listing.chats if c.chat_id != skip]


def _locked(listing: ChatList, chat: ChatItem) -> str:
    return chat.locked_reason if listing.join_view and not chat.can_join and not chat.is_member else ""


@endpoint()
async def chat_panel(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    ctx = await _chat_of(request, tabs, who)
    settings, _ = await tabs.service.load_settings()
    records = []
    for item in (await tabs.service.records_of_chat(ctx)).items:
        rtype = await tabs.service.records.record_type(item.record.type)
        if rtype is None:
            continue
        rts = tabs.service.type_settings(settings, rtype)
        listing = await _chats(tabs, _ctx(who), rtype.logical_name, item.record.id)
        records.append({"item": item, "fields": rules.card_fields(rtype, rules.chosen_view(rtype, rts), item.record),
                        "others": _chat_rows(listing, skip=ctx.conversation_id)})
    return html("chat_panel.html", chat_id=ctx.conversation_id, records=records)


@endpoint()
async def my_panel(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    page = await _search(tabs, who, "")
    records = []
    for found in page.items:
        listing = await _chats(tabs, _ctx(who), found.rtype.logical_name, found.record.id)
        records.append({"found": found, "chats": _chat_rows(listing)})
    return html("my_panel.html", records=records)


@endpoint()
async def find_panel(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    """Search results for a tab; with ?chat= each one can be connected to that chat."""
    chat = query_text(request, "chat")
    if chat:
        await _chat_of(request, tabs, who)
    page = await _search(tabs, who, request.query.get("q", ""))
    return html("found_rows.html", page=page, chat_id=chat)


async def _search(tabs: TabsContext, who: Principal, text: str) -> SearchPage:
    if tabs.search is None:
        raise ApiError(503, "search is not available on this server")
    return await tabs.search.find(_ctx(who), text, 0, PAGE)


def routes(app: web.Application) -> None:
    app.router.add_get("/tabs/chat", chat_page)
    app.router.add_get("/tabs/chat/config", chat_config_page)
    app.router.add_get("/tabs/chat/panel", chat_panel)
    app.router.add_get("/tabs/my", my_page)
    app.router.add_get("/tabs/my/panel", my_panel)
    app.router.add_get("/tabs/find/panel", find_panel)
