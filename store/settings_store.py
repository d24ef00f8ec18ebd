"""Settings as one JSON document with an ETag, cached. Another replica's edit shows here within the TTL: one
second by default; on PostgreSQL a save NOTIFYs every replica (store/wakeups.py), which drops its cache at once, so
the TTL there is only a fallback."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import UTC, datetime

from domain.ports import Conflict
from domain.settings import Settings, from_dict, to_dict
from store.db import Database
from store.wakeups import SETTINGS_CHANNEL

SETTINGS_TTL = 1.0  # seconds another replica's edit may take to show here
SETTINGS_TTL_LISTENING = 30.0  # the same when saves are also announced by NOTIFY


class SqlSettingsStore:
    def __init__(self, db: Database, ttl: float = SETTINGS_TTL) -> None:
        self._db = db
        self._ttl = ttl
        self._cached: tuple[Settings, str] | None = None
        self._read_at = 0.0

    def invalidate(self) -> None:
        """Another replica saved settings: read them again on the next load."""
        self._read_at = float("-inf")

    async def load(self) -> tuple[Settings, str]:
        if self._cached and time.monotonic() - self._read_at < self._ttl:
            return self._cached
        row = await self._db.fetchrow("SELECT body, etag FROM settings WHERE id = 1")
        if row is None:
            settings, etag = Settings(), _etag(to_dict(Settings()))
        elif self._cached and self._cached[1] == row["etag"]:
            settings, etag = self._cached
        else:
            settings, etag = from_dict(json.loads(row["body"])), row["etag"]
        self._cached, self._read_at = (settings, etag), time.monotonic()
        return settings, etag

    async def save(self, settings: Settings, if_match: str | None) -> str:
        body = to_dict(settings)
        etag = _etag(body)
        text = json.dumps(body, sort_keys=True)
        now = datetime.now(UTC).isoformat()
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("SELECT etag FROM settings WHERE id = 1")
            current = row["etag"] if row else _etag(to_dict(Settings()))
            if if_match is not None and if_match.strip('"') != current:
                raise Conflict("the settings changed since you loaded them; reload and try again")
            if row:
                await tx.execute("UPDATE settings SET body = $1, etag = $2, updated_at = $3 WHERE id = 1",
                                 text, etag, now)
            else:
                await tx.execute("INSERT INTO settings (id, body, etag, updated_at) VALUES (1, $1, $2, $3)",
                                 text, etag, now)
            if self._db.dialect == "postgresql":
                await tx.execute(f"NOTIFY {SETTINGS_CHANNEL}")
        self._cached, self._read_at = (settings, etag), time.monotonic()
        return etag


def _etag(body: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
