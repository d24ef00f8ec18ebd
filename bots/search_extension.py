"""The "Find a record" search message extension (manifest command `findRecord`, composeExtension/query): results
are preview rows; the picked one is inserted into the compose box as the record's card, whose Connect button
connects the group chat it is sent in (the ordinary connect verb, under the ordinary rules). Link unfurling
(composeExtension/queryLink) answers a pasted record link with the same card."""
from __future__ import annotations

import asyncio
import logging
from typing import Any

from bots.commands import _data
from bots.router import CARD, Router
from bots.turn import Answer, InvokeResult, Turn
from cards.render import render
from cards.results import chats_card
from domain import record_links, rules
from domain.collab import CollabService
from domain.ports import GatewayError, ImpersonationRefused
from domain.results import Refusal
from domain.search import MAX_COUNT, Found, SearchPage, SearchService
from domain.settings import Settings

log = logging.getLogger(__name__)
COMMAND_ID = "findRecord"
# Teams waits about 5 s for the results; past this the agent gets "try again" instead of an error.
SEARCH_BUDGET = 4.0
BUSY = "The CRM is busy right now; try your search again in a moment."
THUMBNAIL = "application/vnd.microsoft.card.thumbnail"


def message(text: str) -> Answer:
    return Answer(invoke=InvokeResult(200, {"composeExtension": {"type": "message", "text": text}}))


def results(attachments: list[dict[str, Any]]) -> Answer:
    return Answer(invoke=InvokeResult(200, {"composeExtension": {
        "type": "result", "attachmentLayout": "list", "attachments": attachments}}))


def query_of(value: dict[str, Any]) -> tuple[str, int, int]:
    """The search text (empty on the initial run) and the page Teams asks for."""
    text = ""
    for parameter in value.get("parameters") or []:
        if isinstance(parameter, dict) and parameter.get("name") != "initialRun" and \
                isinstance(parameter.get("value"), str):
            text = parameter["value"]
    options = value.get("queryOptions")
    if not isinstance(options, dict):
        options = {}
    return text, _int(options.get("skip"), 0), _int(options.get("count"), MAX_COUNT)


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def attachment(item: Found, card: dict[str, Any]) -> dict[str, Any]:
    subtitle = " · ".join(p for p in (item.rtype.display_name, item.record.number or "", item.status) if p)
    return {"contentType": CARD, "content": card, "preview": {"contentType": THUMBNAIL, "content": {
        "title": item.record.name or item.record.number or item.record.id, "subtitle": subtitle,
        "text": f"Owner: {item.owner}" if item.owner else ""}}}


async def record_card(service: SearchService, item: Found, settings: Settings | None = None) -> dict[str, Any]:
    if settings is None:
        settings, _ = await service.chats.load_settings()
    rts = service.chats.type_settings(settings, item.rtype)
    fields = rules.card_fields(item.rtype, rules.chosen_view(item.rtype, rts), item.record)
    # Unchecked access (the CRM searched as the agent): offer the join list, which shows each chat's lock.
    can_join = rts.join_chat if item.access is None else rules.can_join(rts, item.access, connected=True).allowed
    return render("record", r=item, fields=fields, can_join=can_join)


def empty(page: SearchPage) -> str:
    if page.recent:
        return "You have no recent records yet: type a record's number or name to find it."
    return f"No records match {page.text!r}. Try the record's number, or a word from its name."


def register(router: Router, service: SearchService, collab: CollabService, public_url: str) -> None:
    async def query(turn: Turn) -> Answer:
        value = turn.value or {}
        if value.get("commandId") != COMMAND_ID:
            return message(f"I don't know the search command {str(value.get('commandId'))[:60]!r}.")
        text, skip, count = query_of(value)
        try:
            page = await asyncio.wait_for(service.find(turn.ctx, text, skip, count), SEARCH_BUDGET)
        except (Refusal, ImpersonationRefused) as refusal:
            return message(str(refusal))
        except (TimeoutError, GatewayError) as exc:
            log.info("search %r gave up: %s", text[:50], exc or "over the invoke budget")
            return message(BUSY)
        if not page.items:
            return message(empty(page)) if skip == 0 else results([])
        settings, _ = await service.chats.load_settings()
        cards = [await record_card(service, item, settings) for item in page.items]
        return results([attachment(item, card) for item, card in zip(page.items, cards, strict=True)])

    router.invoke("composeExtension/query", query)

    async def query_link(turn: Turn) -> Answer:
        """Link unfurling: a record link becomes the record's card; unknown, unreadable or slow: no preview."""
        url = (turn.value or {}).get("url")
        link = record_links.parse(url, public_url) if isinstance(url, str) else None
        if link is None:
            return results([])
        try:
            item = await asyncio.wait_for(service.lookup(turn.ctx, link.record_type, link.key), SEARCH_BUDGET)
        except (TimeoutError, GatewayError) as exc:
            log.info("unfurling gave up: %s", exc or "over the invoke budget")
            return results([])
        if item is None:
            return results([])
        return results([attachment(item, await record_card(service, item))])

    router.invoke("composeExtension/queryLink", query_link)

    async def verb_joinlist(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        return chats_card(await collab.join_view(turn.ctx, *_data(data)))

    router.verb("joinlist", verb_joinlist)
