"""Connect, disconnect and join events: who, when, record, chat."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from store.connections import iso
from store.db import Database

FILTERS = ("event", "tenant_id", "user_id", "record_type", "record_id", "chat_id")


class SqlAuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(self, event: str, tenant_id: str, user_id: str, record_type: str,
                     record_id: str, chat_id: str, at: datetime, detail: str = "") -> None:
        await self._db.execute(
            "INSERT INTO audit (at, event, tenant_id, user_id, record_type, record_id, chat_id, detail) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            iso(at), event, tenant_id, user_id, record_type, record_id, chat_id, detail)

    async def query(self, filters: dict[str, str], limit: int = 500) -> Sequence[dict[str, Any]]:
        """Equality filters on FILTERS plus `since`/`until` (ISO times); newest first."""
        clauses: list[str] = []
        args: list[object] = []
        for key in FILTERS:
            if filters.get(key):
                args.append(filters[key])
                clauses.append(f"{key} = ${len(args)}")
        for key, op in (("since", ">="), ("until", "<=")):
            if filters.get(key):
                args.append(filters[key])
                clauses.append(f"at {op} ${len(args)}")
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        args.append(max(1, min(limit, 10_000)))
        return await self._db.fetch(
            f"SELECT at, event, tenant_id, user_id, record_type, record_id, chat_id, detail FROM audit {where} "
            f"ORDER BY at DESC, id DESC LIMIT ${len(args)}", *args)
