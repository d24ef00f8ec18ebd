"""domain.search.RecentRecords: the records an agent connected chats to, most recent first (index
connections_by_connector)."""
from __future__ import annotations

from collections.abc import Sequence

from store.db import Database


class SqlRecentRecords:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def connected_by(self, tenant_id: str, user_id: str, limit: int) -> Sequence[tuple[str, str]]:
        rows = await self._db.fetch(
            "SELECT record_type, record_id, MAX(connected_at) AS latest FROM connections WHERE tenant_id = $1 "
            "AND connected_by = $2 GROUP BY record_type, record_id ORDER BY latest DESC LIMIT $3",
            tenant_id, user_id, max(1, min(limit, 200)))
        return [(r["record_type"], r["record_id"]) for r in rows]
