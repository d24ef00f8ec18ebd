"""PostgreSQL single statements run on a few held connections ("lanes", store/db.py) with the pool as overflow:
concurrency beyond the lanes, statement errors and connections the server closed all leave the database usable."""
from __future__ import annotations

import asyncio

import asyncpg
import pytest

from store.db import PostgresDatabase, _gone, open_database
from tests.conftest import _drop_pg_database, _fresh_pg_database


async def _wait_closed(db: PostgresDatabase) -> None:
    """Until the client has seen the server close the idle lanes (a socket event, processed by the loop)."""
    for _ in range(250):
        if all(_gone(conn) for conn in db._idle):
            return
        await asyncio.sleep(0.02)


async def test_lanes_survive_overflow_errors_and_a_server_side_close():
    url = await _fresh_pg_database()
    db = await open_database(url)
    assert isinstance(db, PostgresDatabase)
    try:
        await db.execute("CREATE TABLE t (n INTEGER PRIMARY KEY)")
        # Twice as many concurrent statements as lanes: the rest go through the pool; every insert lands.
        counts = await asyncio.gather(*(db.execute("INSERT INTO t (n) VALUES ($1)", i)
                                        for i in range(2 * PostgresDatabase.LANES)))
        assert counts == [1] * (2 * PostgresDatabase.LANES)
        with pytest.raises(asyncpg.UniqueViolationError):
            await db.execute("INSERT INTO t (n) VALUES (0)")
        assert (await db.fetchrow("SELECT COUNT(*) AS n FROM t")) == {"n": 2 * PostgresDatabase.LANES}

        admin = await asyncpg.connect(url)
        try:
            await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                                "WHERE datname = current_database() AND pid <> pg_backend_pid()")
        finally:
            await admin.close()
        await _wait_closed(db)
        await asyncio.sleep(0.5)  # and asyncpg's pool its own idle connections (the overflow)
        assert [r["n"] for r in await db.fetch("SELECT n FROM t ORDER BY n LIMIT 2")] == [0, 1]
    finally:
        await db.close()
        await _drop_pg_database(url)
