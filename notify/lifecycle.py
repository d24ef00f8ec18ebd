"""Issue 15 in the notification pipeline: the planner adds a change's lifecycle notices to the chats' outbox rows
(and the rows of what the policy does after them), and the worker's hooks render the notice cards and perform
those actions (add the new owner, disconnect, message the new owner), retried through the outbox like posts."""
from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol
from urllib.parse import quote

from cards.render import render
from domain import lifecycle
from domain.kinds import AuditEvent
from domain.lifecycle import POLICY_USER, Notice
from domain.lifecycle_policy import LifecyclePolicy
from domain.lifecycle_service import Candidate, LifecycleService
from domain.model import ChangeEvent, Connection, ConversationRef
from domain.ports import DeliveryError, GatewayError, Messenger

log = logging.getLogger(__name__)
UNCHECKED = "unchecked"  # Graph did not answer the licence check
OWNER_LANE = "owner:"  # chat_id of a personal-message row: its own lane, not a chat
Row = dict[str, Any]


class Conversations(Protocol):
    async def create_conversation(self, service_url: str, bot_id: str, tenant_id: str, aad_object_id: str
                                  ) -> str: ...


class Connections(Protocol):
    async def for_record_any_tenant(self, record_type: str, record_id: str,
                                    include_history: bool = False) -> Sequence[Connection]: ...
    async def conversation(self, tenant_id: str, chat_id: str) -> ConversationRef | None: ...


# -- planning (in the webhook / `set` request, before the change is acknowledged) ----------------------------

async def chats_for(connections: Connections, service: LifecycleService, event: ChangeEvent,
                    notices: Sequence[Notice], active: list[Connection]) -> list[Connection]:
    """The chats to tell: the connected ones, and on reopening also those the closing policy disconnected
    (connected again first, so later changes reach them too)."""
    if not any(n.kind == "reopened" for n in notices):
        return active
    have = {(c.tenant_id, c.chat_id) for c in active}
    latest: dict[tuple[str, str], Connection] = {}
    for conn in await connections.for_record_any_tenant(event.record_type, event.record_id, True):
        latest[(conn.tenant_id, conn.chat_id)] = conn  # ordered by connected_at: the last row wins
    out = list(active)
    for key, conn in latest.items():
        if key in have or conn.disconnected_by != POLICY_USER or (event.tenant_id and key[0] != event.tenant_id):
            continue
        await service.reconnect(conn.tenant_id, conn.record_type, conn.record_id, conn.chat_id, conn.chat_title,
                                event.changed_at)
        out.append(conn)
    return out


async def plan(connections: Connections, policy: LifecyclePolicy, notices: Sequence[Notice],
               chats: Sequence[Connection], payload: dict[str, Any]) -> list[Row]:
    """Rows that follow the chats' notice rows: per chat an automatic add or a disconnect, and one personal
    message to the new owner. The outbox keeps one chat's rows in order, so each runs after its notice."""
    rows: list[Row] = []
    base = {k: payload[k] for k in ("record_type", "record_id", "type_label", "name", "url")}
    for notice in notices:
        for chat in chats:
            act = ("add_member" if notice.kind == "reassigned" and policy.reassign_add == "auto" else
                   "disconnect" if notice.kind == "closed" and policy.close_disconnect else "")
            if act:
                rows.append(_row(chat.tenant_id, chat.chat_id, payload,
                                 {"kind": "action", "action": act, **base, "notice": lifecycle.to_dict(notice)}))
        if notice.kind == "reassigned" and policy.reassign_message_owner and notice.owner_id and chats:
            ref = await connections.conversation(chats[0].tenant_id, chats[0].chat_id)
            if ref is None:
                continue
            listed = [{"chat_id": c.chat_id, "title": c.chat_title or "Group chat"} for c in chats
                      if c.tenant_id == ref.tenant_id]
            rows.append(_row(ref.tenant_id, f"{OWNER_LANE}{notice.owner_kind}:{notice.owner_id}", payload, {
                "kind": "action", "action": "owner_message", **base, "notice": lifecycle.to_dict(notice),
                "service_url": ref.service_url, "bot_id": ref.bot_id, "chats": listed}))
    return rows


def _row(tenant: str, chat: str, payload: dict[str, Any], data: dict[str, Any]) -> Row:
    # `part` keeps the row's idempotency key apart from the chat's notice row (same change, same chat).
    return {"tenant_id": tenant, "chat_id": chat, "record_type": payload["record_type"],
            "record_id": payload["record_id"], "payload": data,
            "part": f"{data['action']}:{data['notice']['kind']}:{data['notice']['owner_id']}"}


def visible_changes(payload: dict[str, Any], notices: Sequence[Notice]) -> None:
    """A closing or reopening card says the new state itself: its state field lines would repeat it."""
    if any(n.kind in ("closed", "reopened") for n in notices):
        payload["changes"] = [c for c in payload["changes"] if c["attribute"] not in (lifecycle.STATE,
                                                                                      lifecycle.STATUS)]


# -- delivery (the worker's hooks) ---------------------------------------------------------------------------

def is_action(row: Row) -> bool:
    return row["payload"].get("kind") == "action"


def is_notice(row: Row) -> bool:
    return bool(row["payload"].get("lifecycle"))


class Hooks:
    def __init__(self, service: LifecycleService, connector: Conversations, messenger: Messenger) -> None:
        self.service, self.connector, self.messenger = service, connector, messenger

    async def card(self, row: Row, update: Any) -> dict[str, Any]:
        """The notice card for one row; Graph failing while checking the new owner is retried like a post."""
        items = []
        for notice in (lifecycle.from_dict(n) for n in row["payload"]["lifecycle"]):
            items.append(await self._item(row, notice, update))
        return render("lifecycle", u=update, items=items)

    async def _item(self, row: Row, notice: Notice, update: Any) -> dict[str, Any]:
        item: dict[str, Any] = {"headline": lifecycle.headline(notice, update.type_label), "notice": notice,
                                "lines": [], "add": None}
        if notice.kind == "reassigned":
            mode = row["payload"].get("add_mode", "off")
            if mode != "off" and notice.owner_id:
                who = await self._candidate(row, notice)
                if who.refusal == UNCHECKED and mode == "auto":
                    item["lines"].append(f"{who.name} will be added to this chat once Microsoft Graph answers.")
                elif who.user is None and who.refusal != UNCHECKED:
                    item["lines"].append(who.refusal + ".")
                elif mode == "auto":
                    item["lines"].append(f"{who.name} is being added to this chat with its whole history.")
                else:  # the button checks again when pressed
                    item["add"] = {"title": f"Add {who.name} to this chat",
                                   "data": {"recordType": row["record_type"], "recordId": row["record_id"],
                                            "chatId": row["chat_id"], "ownerKind": notice.owner_kind,
                                            "ownerId": notice.owner_id, "ownerName": notice.new_owner}}
        elif notice.kind == "closed":
            found = await self._resolution(row)
            if found:
                item["lines"] += [f"Resolution: {found[0]}"] + ([found[1]] if found[1] else [])
            elif notice.resolution:
                item["lines"].append(notice.resolution)
            if row["payload"].get("disconnect"):
                item["lines"].append("This chat will be disconnected from the record; its history stays.")
        return item

    async def _candidate(self, row: Row, notice: Notice) -> Candidate:
        """The new owner as checked for the card; with Graph down the notice still goes out (the button, or the
        add row, checks again), rather than wait for Graph."""
        try:
            return await self.service.candidate(row["record_type"], row["record_id"], notice.owner_kind,
                                                notice.owner_id, notice.new_owner)
        except GatewayError as exc:
            log.warning("could not check %s for the reassignment card: %s", notice.new_owner, exc)
            return Candidate(notice.new_owner or "the new owner", None, UNCHECKED)

    async def _resolution(self, row: Row) -> tuple[str, str] | None:
        """Dataverse: the newest incidentresolution's subject and description (the source may not have them)."""
        read = getattr(self.service.records, "resolution", None)
        if read is None:
            return None
        try:
            found: tuple[str, str] | None = await read(row["record_type"], row["record_id"])
            return found
        except (GatewayError, LookupError, ValueError) as exc:
            log.warning("no resolution for %s %s: %s", row["record_type"], row["record_id"], exc)
            return None

    def needs_chat(self, row: Row) -> bool:
        return not str(row["chat_id"]).startswith(OWNER_LANE)

    async def perform(self, row: Row) -> None:
        """One action row; raises DeliveryError (503: retried) when Graph or the Bot Connector fails."""
        data = row["payload"]
        notice = lifecycle.from_dict(data["notice"])
        try:
            if data["action"] == "add_member":
                who = await self.service.candidate(row["record_type"], row["record_id"], notice.owner_kind,
                                                   notice.owner_id, notice.new_owner)
                await self.service.add(row["tenant_id"], None, row["record_type"], row["record_id"], row["chat_id"],
                                       who, AuditEvent.MEMBER_ADDED_BY_POLICY, POLICY_USER)
            elif data["action"] == "disconnect":
                await self.service.disconnect(row["tenant_id"], row["record_type"], row["record_id"], row["chat_id"])
            elif data["action"] == "owner_message":
                await self._message_owner(row, notice)
        except GatewayError as exc:
            raise DeliveryError(503, f"Microsoft Graph: {exc}") from None

    async def _message_owner(self, row: Row, notice: Notice) -> None:
        data = row["payload"]
        who = await self.service.candidate(row["record_type"], row["record_id"], notice.owner_kind,
                                           notice.owner_id, notice.new_owner)
        if who.user is None:  # no Teams licence or not a CRM user: there is nobody to message
            await self.service.audit.append(AuditEvent.OWNER_MESSAGED, row["tenant_id"], POLICY_USER,
                                            row["record_type"], row["record_id"], "", datetime.now().astimezone(),
                                            f"not sent: {who.refusal}")
            return
        conv = await self.connector.create_conversation(data["service_url"], data["bot_id"], row["tenant_id"],
                                                        who.user.aad_object_id)
        chats = [dict(c, url=chat_link(c["chat_id"], row["tenant_id"])) for c in data["chats"]]
        card = render("lifecycle_owner", d=data, headline=lifecycle.headline(notice, data["type_label"]),
                      chats=chats, name=who.name)
        await self.messenger.post(ConversationRef(data["service_url"], conv, row["tenant_id"], data["bot_id"]), card)
        await self.service.audit.append(AuditEvent.OWNER_MESSAGED, row["tenant_id"], POLICY_USER, row["record_type"],
                                        row["record_id"], "", datetime.now().astimezone(), who.user.id)


def chat_link(chat_id: str, tenant_id: str) -> str:
    """Opens the chat in Teams (a deep link to a chat the user is in)."""
    return f"https://teams.microsoft.com/l/chat/{quote(chat_id, safe='')}/0?tenantId={quote(tenant_id)}"
