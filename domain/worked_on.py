"""Who worked on a record (SUG-02): people who logged activities regarding it and people who connected chats to
it, most recent first. "Owning team members" are narrowed to these; "logged activity" lists the first group."""
from __future__ import annotations

from domain.model import Record
from domain.ports import ConnectionStore, RecordSource


async def activity_loggers(records: RecordSource, record: Record) -> list[str]:
    return list(await records.activity_owners(record))


async def chat_connectors(connections: ConnectionStore, tenant_id: str, record: Record) -> list[str]:
    history = await connections.for_record(tenant_id, record.type, record.id, True)
    return list(dict.fromkeys(c.connected_by for c in reversed(history)))


async def worked_on(records: RecordSource, connections: ConnectionStore, tenant_id: str, record: Record) -> set[str]:
    return {*await activity_loggers(records, record), *await chat_connectors(connections, tenant_id, record)}
