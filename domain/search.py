"""Find a record from Teams: by number or name across the record types turned on for chats, or, with no text,
the agent's own recent records (connected by them, then owned by them). Only records the agent can read."""
from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from domain.model import Access, Record, RecordType, User
from domain.ports import GatewayError, ImpersonationRefused, RecordSource
from domain.results import ChatContext, Refusal
from domain.service import ChatService

MAX_TEXT = 200  # longer search text is cut, never refused
MAX_COUNT = 25  # results per page (Teams asks for 25)
MAX_SKIP = 500
STATUS_TYPES = ("Status", "State")  # the status reason reads better than the state, when a type has both


class RecentRecords(Protocol):
    async def connected_by(self, tenant_id: str, user_id: str, limit: int) -> Sequence[tuple[str, str]]:
        """(record type, record id) of the records this user connected chats to, most recent first."""


@dataclass(frozen=True)
class Found:
    record: Record
    rtype: RecordType
    status: str = ""
    owner: str = ""
    access: Access | None = None  # None: not checked one by one (the CRM searched as the agent)


@dataclass(frozen=True)
class SearchPage:
    text: str
    items: list[Found] = field(default_factory=list)
    recent: bool = False
    more: bool = False


def clean_text(text: str) -> str:
    """One line, trimmed, at most MAX_TEXT characters."""
    return " ".join(text.split())[:MAX_TEXT]


class SearchService:
    def __init__(self, chats: ChatService, recent: RecentRecords) -> None:
        self.chats = chats
        self.recent = recent

    async def find(self, ctx: ChatContext, text: str, skip: int = 0, count: int = MAX_COUNT) -> SearchPage:
        user, settings = await self.chats.actor(ctx)
        types = [t for t in await self.chats.records.record_types() if settings.for_type(t.logical_name)]
        if not types:
            raise Refusal("Your administrator hasn't turned on any record type for chats yet.")
        text = clean_text(text)
        skip, count = min(max(skip, 0), MAX_SKIP), min(max(count, 1), MAX_COUNT)
        want = skip + count + 1  # one more than the page tells whether there is a next page
        source = self.chats.records.acting_as(user)
        if text:
            narrowed, rest = narrow(types, text)
            candidates = list(await source.search(narrowed, rest, want))
        else:
            candidates = await self._recent(ctx, user, source, types, want)
        # Acting as the agent (Dataverse: CallerObjectId) the CRM returned only what they may read; a source that
        # cannot act as them (the local directory) is checked record by record.
        filtered = source is not self.chats.records
        readable = [(r, None) for r in candidates] if filtered else await self._readable(user, candidates)
        by_name = {t.logical_name: t for t in types}
        items = [found(r, by_name[r.type], a) for r, a in readable[skip:skip + count] if r.type in by_name]
        return SearchPage(text, items, recent=not text, more=len(readable) > skip + count)

    async def lookup(self, ctx: ChatContext, type_name: str, key: str) -> Found | None:
        """One record for a pasted link, or None when the agent may not see it (no preview, nothing leaks)."""
        try:
            user, settings = await self.chats.actor(ctx)
            rtype, record = await self.chats.resolve(type_name, key, agent=user)
        except Refusal:
            return None
        if settings.for_type(rtype.logical_name) is None:
            return None
        access = await self.chats.records.access(user, record)
        return None if access == "none" else found(record, rtype, access)

    async def _recent(self, ctx: ChatContext, user: User, source: RecordSource, types: Sequence[RecordType],
                      want: int) -> list[Record]:
        enabled = {t.logical_name for t in types}
        keys = [k for k in await self.recent.connected_by(ctx.tenant_id, user.id, want * 2) if k[0] in enabled]
        connected = await asyncio.gather(*(self._get(source, t, i) for t, i in keys[:want]))
        owned = await source.search(types, "", want, owner_id=user.id)
        unique: dict[tuple[str, str], Record] = {}
        for record in [*connected, *owned]:
            if record is not None:
                unique.setdefault((record.type, record.id.lower()), record)
        return list(unique.values())

    @staticmethod
    async def _get(source: RecordSource, record_type: str, record_id: str) -> Record | None:
        try:
            return await source.get_record(record_type, record_id)
        except ImpersonationRefused:
            raise
        except GatewayError:
            return None  # one unreadable recent record leaves the others

    async def _readable(self, user: User, records: Sequence[Record]) -> list[tuple[Record, Access | None]]:
        access = await asyncio.gather(*(self.chats.records.access(user, r) for r in records))
        return [(r, a) for r, a in zip(records, access, strict=True) if a != "none"]


def narrow(types: Sequence[RecordType], text: str) -> tuple[list[RecordType], str]:
    """'case printer' searches cases only; a first word that names no enabled type is part of the text."""
    first, _, rest = text.partition(" ")
    named = [t for t in types if first.lower() in t.names()]
    return (named, rest.strip()) if named and rest.strip() else (list(types), text)


def found(record: Record, rtype: RecordType, access: Access | None = None) -> Found:
    status = ""
    for kind in STATUS_TYPES:
        column = next((n for n, a in rtype.attributes.items() if a.type == kind and record.values.get(n)), None)
        if column:
            status = str(record.values[column])
            break
    return Found(record, rtype, status, record.owner.name if record.owner else "", access)
