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
_SQLITE_SQL: dict[str, str] = {}


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
        text = _SQLITE_SQL.get(sql)
        if text is None:  # a few hundred fixed statements (plus IN lists of varying length): translate each once
            if len(_SQLITE_SQL) > 4096:
                _SQLITE_SQL.clear()
            text = _SQLITE_SQL[sql] = _PARAM.sub(r"?\1", sql)
        return text

    async def execute(self, sql: str, *args: Any) -> int:
        return self._conn.execute(self._sql(sql), args).rowcount

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in self._conn.execute(self._sql(sql), args).fetchall()]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = self._conn.execute(self._sql(sql), args).fetchone()
        return dict(row) if row else None

    async def executescript(self, sql: str) -> None:
        self._conn.executescript(sql)

    def data_version(self) -> int:
        """Changes whenever another connection (another process) commits to the file (store/chat_cache.py)."""
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

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
        return _count(await self._conn.execute(sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._conn.fetch(sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._conn.fetchrow(sql, *args)
        return dict(row) if row else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        """Inside a transaction: a savepoint (asyncpg nests), so a store writing in its own transaction also works
        on a connection that is already in one (the benchmarks seed through the stores in one commit)."""
        async with self._conn.transaction():
            yield self


class PostgresDatabase:
    dialect = "postgresql"
    LANES = 6  # connections kept out of the pool for single statements (the pool grows by as many)

    def __init__(self, pool: Any) -> None:
        self._pool = pool
        # Single statements outside a transaction run on a few connections held here rather than acquired from
        # asyncpg's pool each time: its release runs in a shielded task (profiled: ~40 us of CPU per query of the
        # ~120 us a `records` lookup costs). When every lane is busy a statement takes a pooled connection.
        self._idle: list[Any] = []
        self._lanes = 0

    @classmethod
    async def connect(cls, url: str, min_size: int = 2, max_size: int = 10) -> PostgresDatabase:
        import asyncpg

        async def keep(conn: Any) -> None:
            """No session state is left outside transactions, so asyncpg's reset query would be a wasted round trip."""

        pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size + cls.LANES, command_timeout=30,
                                         reset=keep)
        return cls(pool)

    async def _single(self, method: str, sql: str, *args: Any) -> Any:
        conn = None
        while self._idle and conn is None:
            conn = self._idle.pop()
            if _gone(conn):  # the server closed it while idle (a restart): the pool replaces it
                self._lanes -= 1
                await self._pool.release(conn)
                conn = None
        if conn is None and self._lanes < self.LANES:
            self._lanes += 1
            try:
                conn = await self._pool.acquire()
            except BaseException:
                self._lanes -= 1
                raise
        if conn is None:
            async with self._pool.acquire() as pooled:
                return await getattr(pooled, method)(sql, *args)
        try:
            result = await getattr(conn, method)(sql, *args)
        except BaseException:
            # A failed or cancelled statement may leave the connection busy or broken: the pool knows how to
            # wait for it or close it. The lane is opened again on demand.
            self._lanes -= 1
            await self._pool.release(conn)
            raise
        self._idle.append(conn)
        return result

    async def execute(self, sql: str, *args: Any) -> int:
        return _count(await self._single("execute", sql, *args))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return [dict(r) for r in await self._single("fetch", sql, *args)]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row = await self._single("fetchrow", sql, *args)
        return dict(row) if row else None

    async def executescript(self, sql: str) -> None:
        async with self._pool.acquire() as conn:
            await conn.execute(sql)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_PgConn]:
        async with self._pool.acquire() as conn, conn.transaction():
            yield _PgConn(conn)

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            self._lanes -= 1
            await self._pool.release(conn)
        await self._pool.close()


def _gone(conn: Any) -> bool:
    """Closed by the server; asyncpg then detaches a pooled connection, whose methods raise InterfaceError."""
    try:
        return bool(conn.is_closed())
    except Exception:
        return True


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


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
