"""Two small drivers with one interface: SQL is written once with $1-style parameters."""
from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

Row = dict[str, Any]
_PARAM = re.compile(r"\$(\d+)")


class Database(Protocol):
    dialect: str

    async def execute(self, sql: str, *args: Any) -> int: ...
    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...
    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...
    def transaction(self) -> Any:
        """Async context manager yielding a Database bound to one transaction."""
    async def close(self) -> None: ...


class SQLiteDatabase:
    """One connection used from the event loop: queries on indexed tables take microseconds, so a thread
    hop would cost more than it saves. WAL lets other processes (a second replica, the CLI) read meanwhile."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=10)
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")
        self._lock = asyncio.Lock()

    def _sql(self, sql: str) -> str:
        return _PARAM.sub(r"?\1", sql)

    async def execute(self, sql: str, *args: Any) -> int:
        return self._conn.execute(self._sql(sql), args).rowcount

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in self._conn.execute(self._sql(sql), args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = self._conn.execute(self._sql(sql), args).fetchone()
        return dict(row) if row else None

    async def executescript(self, sql: str) -> None:
        self._conn.executescript(sql)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SQLiteDatabase]:
        # The lock keeps other coroutines of this process out of the open transaction.
        async with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    async def close(self) -> None:
        self._conn.close()


class _PgConn:
    dialect = "postgresql"

    def __init__(self, conn: Any) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        status = await self._conn.execute(sql, *args)
        tail = status.rsplit(" ", 1)[-1]
        return int(tail) if tail.isdigit() else 0

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *args)
        return dict(row) if row else None


class PostgresDatabase:
    dialect = "postgresql"

    def __init__(self, pool: Any) -> None:
        self._pool = pool

    @classmethod
    async def connect(cls, url: str, min_size: int = 2, max_size: int = 10) -> PostgresDatabase:
        import asyncpg

        async def keep(conn: Any) -> None:
            """No session state is left outside transactions, so asyncpg's reset query would be a wasted round trip."""

        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, command_timeout=30, reset=keep)
        return cls(pool)

    async def execute(self, sql: str, *args: Any) -> int:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        async with self._pool.acquire() as conn:
            return await _PgConn(conn).fetchrow(sql, *args)

    async def executescript(self, sql: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(sql)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgConn(conn)

    async def close(self) -> None:
        await self._pool.close()


async def open_database(url: str) -> SQLiteDatabase | PostgresDatabase:
    """sqlite:///relative/path, sqlite:////absolute/path, sqlite:///:memory: or postgresql://..."""
    parsed = urlparse(url)
    if parsed.scheme == "sqlite":
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else ""
        if not path:
            raise ValueError(f"DATABASE_URL {url!r}: use sqlite:///path/to/file.db")
        return SQLiteDatabase(path)
    if parsed.scheme in ("postgresql", "postgres"):
        return await PostgresDatabase.connect(url)
    raise ValueError(f"DATABASE_URL {url!r}: the scheme must be sqlite or postgresql")


def placeholders(start: int, count: int) -> str:
    return ", ".join(f"${i}" for i in range(start, start + count))
