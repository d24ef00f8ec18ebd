"""Plans key-update notifications and accepts them durably: a ChangeEvent (from the Dataverse webhook or from the
`set` command) -> the watched changes -> one outbox row per connected chat, recorded with the event's identity
in one transaction. Delivery happens later, from the outbox (notify/worker.py)."""
from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from domain import lifecycle
from domain.kinds import AuditEvent
from domain.lifecycle_service import LifecycleService
from domain.model import ChangeEvent, Connection, ConversationRef, FieldChange, Record, RecordType
from domain.notifications import Update, watched_changes
from domain.ports import GatewayError, Outbox, RecordSource, SettingsStore
from domain.settings import RecordTypeSettings
from notify import lifecycle as life

log = logging.getLogger(__name__)


class RecordConnections(Protocol):
    async def for_record_any_tenant(self, record_type: str, record_id: str,
                                    include_history: bool = False) -> Sequence[Connection]: ...
    async def conversation(self, tenant_id: str, chat_id: str) -> ConversationRef | None: ...


@dataclass(frozen=True)
class Outcome:
    """What happened to one change event; `status` is what the webhook answers."""
    status: str  # accepted | duplicate | ignored
    reason: str = ""
    chats: int = 0


class Notifier:
    def __init__(self, records: RecordSource, connections: RecordConnections, settings: SettingsStore,
                 outbox: Outbox, allowed_tenants: frozenset[str] = frozenset(),
                 on_accept: Callable[[], None] | None = None, lifecycle: LifecycleService | None = None) -> None:
        self.records = records
        self.connections = connections
        self.settings = settings
        self.outbox = outbox
        self.allowed_tenants = allowed_tenants
        self.on_accept = on_accept
        self.lifecycle = lifecycle  # issue 15: reassignment, closing and reopening notices (notify/lifecycle.py)

    async def rules_for(self, record_type: str) -> tuple[RecordType, RecordTypeSettings] | str:
        """The type and its settings when its changes may notify; otherwise why not."""
        settings, _ = await self.settings.load()
        if not settings.teams_chat_enabled:
            return "Teams chats for records are turned off"
        rtype = await self.records.record_type(record_type)
        if rtype is None:
            return f"record type {record_type!r} is unknown"
        rts = settings.for_type(rtype.logical_name)
        if rts is None or not ((rts.notify and rts.watched) or (self.lifecycle and rts.lifecycle.active)):
            return f"key-update notifications are off for {rtype.display_name.lower()}"
        return rtype, rts

    async def submit(self, event: ChangeEvent, dedupe_key: str, fallback_url: str = "") -> Outcome:
        found = await self.rules_for(event.record_type)
        if isinstance(found, str):
            return Outcome("ignored", found)
        rtype, rts = found
        changes = watched_changes(event, rtype, rts)
        notices = lifecycle.detect(event, rtype, rts.lifecycle) if self.lifecycle else []
        if not changes and not notices:
            return Outcome("ignored", "no watched field changed")
        chats = await self._chats(event)
        if notices and self.lifecycle:
            chats = await life.chats_for(self.connections, self.lifecycle, event, notices, chats)
        if not chats:
            return Outcome("ignored", "no chat is connected to this record")
        record = await self._record(rtype, event.record_id)
        update = Update(rtype.logical_name, event.record_id, rtype.display_name,
                        record.name if record else event.record_id, record.url if record else fallback_url,
                        tuple(changes), event.changed_by, event.changed_at)
        payload = to_payload(update)
        extra: list[dict[str, Any]] = []
        if notices:
            life.visible_changes(payload, notices)
            payload.update(lifecycle=[lifecycle.to_dict(n) for n in notices], add_mode=rts.lifecycle.reassign_add,
                           disconnect=rts.lifecycle.close_disconnect)
            extra = await life.plan(self.connections, rts.lifecycle, notices, chats, payload)
        items = [{"tenant_id": c.tenant_id, "chat_id": c.chat_id, "record_type": c.record_type,
                  "record_id": c.record_id, "payload": payload} for c in chats]
        if not await self.outbox.accept(dedupe_key, items + extra):
            return Outcome("duplicate", "this change was accepted before", len(items))
        if notices and self.lifecycle:
            await self._audit(notices, chats, event, rtype.display_name)
        if self.on_accept:
            self.on_accept()
        return Outcome("accepted", "", len(items))

    async def _audit(self, notices: Sequence[lifecycle.Notice], chats: Sequence[Connection],
                     event: ChangeEvent, label: str) -> None:
        assert self.lifecycle is not None
        for notice in notices:
            for chat in chats:
                await self.lifecycle.audit.append(AuditEvent(f"{notice.kind}_notice"), chat.tenant_id,
                                                  lifecycle.POLICY_USER, chat.record_type, chat.record_id, chat.chat_id,
                                                  event.changed_at, lifecycle.headline(notice, label))

    async def _chats(self, event: ChangeEvent) -> list[Connection]:
        found = await self.connections.for_record_any_tenant(event.record_type, event.record_id)
        seen: dict[tuple[str, str], Connection] = {}
        for conn in found:
            if event.tenant_id and conn.tenant_id != event.tenant_id:
                continue
            if self.allowed_tenants and conn.tenant_id.lower() not in self.allowed_tenants:
                continue
            seen.setdefault((conn.tenant_id, conn.chat_id), conn)
        return list(seen.values())

    async def _record(self, rtype: RecordType, record_id: str) -> Record | None:
        try:
            return await self.records.get_record(rtype.logical_name, record_id)
        except (GatewayError, LookupError, ValueError) as exc:  # the card can still go out with the id as name
            log.warning("could not read %s %s for its notification card: %s", rtype.logical_name, record_id, exc)
            return None


def to_payload(update: Update) -> dict[str, Any]:
    data = asdict(update)
    data["changed_at"] = update.changed_at.astimezone(UTC).isoformat()  # cards show times as UTC, read locally
    data["changes"] = [asdict(c) for c in update.changes]
    return data


def from_payload(data: dict[str, Any]) -> Update:
    return Update(record_type=data["record_type"], record_id=data["record_id"], type_label=data["type_label"],
                  name=data["name"], url=data["url"],
                  changes=tuple(FieldChange(**c) for c in data["changes"]), changed_by=data["changed_by"],
                  changed_at=datetime.fromisoformat(data["changed_at"]))
