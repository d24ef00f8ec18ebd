"""Who worked on a record (SUG-02): people who logged activities regarding it and people who connected chats to
it, most recent first. "Owning team members" are narrowed to these; "logged activity" lists the first group."""
from __future__ import annotations

from collections.abc import Sequence

from domain.model import Connection, Record
from domain.ports import RecordSource


async def activity_loggers(records: RecordSource, record: Record) -> list[str]:
    return list(await records.activity_owners(record))


def chat_connectors(history: Sequence[Connection]) -> list[str]:
    """Who connected chats to the record, most recent first, each once."""
    return list(dict.fromkeys(c.connected_by for c in reversed(history)))


async def worked_on(records: RecordSource, record: Record, connectors: Sequence[str]) -> set[str]:
    return {*await activity_loggers(records, record), *connectors}
