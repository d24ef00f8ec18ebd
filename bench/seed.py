"""Seed many connections fast, with the real schema (store.migrations), for store_bench and run --seed-connections.

Distribution (identical on both backends): 90% of rows in one tenant (the demo tenant) and 2.5% in each of four
others; inside a tenant, rows come in blocks of 15 holding records with 1, 2, 3, 4 and 5 chats (3 on average), and
a multiplicative permutation of the row number spreads them over chats in blocks of 6 holding chats with 1, 2 and 3
records (2 on average); record types 60% incident, 20% account, 10% contact, 10% work order; every 20th row is
disconnected history. The connections indexes are dropped during the load and rebuilt from their own definitions
afterwards (a bulk load into a fresh table, not a measurement of insert speed).
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.activities import DEMO_TENANT
from store.db import open_database
from store.migrations import migrate

OTHER_TENANTS = [f"b{k:07d}-0000-4000-8000-0000000000{k:02d}" for k in range(1, 5)]
TYPES = ["incident"] * 6 + ["account", "account", "contact", "msdyn_workorder"]
USERS = ["9b1f7e21-3c4d-ef11-8409-000d3a4b9c21", "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21",
         "3c1d2e4f-5a6b-ef11-8409-000d3a4b9c22", "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23",
         "5e3f4a6b-7c8d-ef11-8409-000d3a4b9c24", "6f4a5b7c-8d9e-ef11-8409-000d3a4b9c25",
         "75c2dd85-e89e-e711-8122-000d3aa2331c", "8a6b7c9d-0e1f-ef11-8409-000d3a4b9c27"]
# Records of the demo directory, so the service's `records` card has real items for the benchmark's chats.
DEMO_RECORDS = [("incident", "e1a2b3c4-0001-4000-8000-000000001001"),
                ("account", "a0000001-0000-4000-8000-000000000001"),
                ("incident", "e1a2b3c4-0002-4000-8000-000000001002"),
                ("contact", "c0000001-0000-4000-8000-000000000001"),
                ("incident", "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21")]
COLUMNS = ("tenant_id, record_type, record_id, chat_id, state, connected_by, connected_at, disconnected_by, "
           "disconnected_at, chat_title")
Row = tuple[str, str, str, str, str, str, str, str | None, str | None, str]


@dataclass(frozen=True)
class Segment:
    """One tenant's share: `rows` rows whose record and chat ids are derived from `tag`."""

    tenant: str
    tag: str
    rows: int
    step: int  # the permutation multiplier: coprime with rows, and a record's rows land in different chats


@dataclass
class SeedReport:
    rows: int
    load_s: float = 0.0
    index_s: float = 0.0
    analyze_s: float = 0.0
    sizes: dict[str, int] = field(default_factory=dict)  # bytes: database / table / indexes

    def line(self) -> str:
        mb = ", ".join(f"{k} {v / 2**20:.0f} MB" for k, v in self.sizes.items())
        return (f"seeded {self.rows:,} connections: load {self.load_s:.1f}s, indexes {self.index_s:.1f}s, "
                f"ANALYZE {self.analyze_s:.1f}s; {mb}")


def _step(n: int) -> int:
    """A multiplier near n/golden ratio; rows i..i+4 (one record) then sit >= 6 apart, i.e. in different chats."""
    start = max(1, round(n * 0.6180339887))
    for p in [*range(start, n), *range(1, start)]:
        if math.gcd(p, n) == 1 and all(6 <= (d * p) % n <= n - 6 for d in range(1, 5)):
            return p
    raise ValueError(f"cannot spread {n} rows over chats; seed at least 40")


def segments(rows: int) -> list[Segment]:
    small = rows // 40 if rows >= 4000 else 0
    sizes = [rows - 4 * small] + [small] * 4
    tenants = [DEMO_TENANT, *OTHER_TENANTS]
    return [Segment(t, f"s{k}", n, _step(n)) for k, (t, n) in enumerate(zip(tenants, sizes, strict=True)) if n]


def _md5_uuid(text: str) -> str:
    return str(uuid.UUID(hashlib.md5(text.encode()).hexdigest()))  # = PostgreSQL's md5(text)::uuid::text


def _iso(second: int) -> str:
    t = time.gmtime(1704067200 + second)  # 2024-01-01T00:00:00Z
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + ".000000+00:00"


def _record_of(i: int) -> int:
    off = i % 15
    return (i // 15) * 5 + (0 if off < 1 else 1 if off < 3 else 2 if off < 6 else 3 if off < 10 else 4)


def _chat_of(p: int) -> int:
    off = p % 6
    return (p // 6) * 3 + (0 if off < 1 else 1 if off < 3 else 2)


def python_rows(seg: Segment, base: int) -> Iterator[Row]:
    """The rows of one segment; `base` offsets its timestamps (3 s per row over the whole table)."""
    for i in range(seg.rows):
        r, c = _record_of(i), _chat_of((i * seg.step) % seg.rows)
        gone = i % 20 == 19
        at = 3 * (base + i)
        yield (seg.tenant, TYPES[r % 10], _md5_uuid(f"{seg.tag}:r:{r}"),
               f"19:{hashlib.md5(f'{seg.tag}:c:{c}'.encode()).hexdigest()}@thread.v2",
               "disconnected" if gone else "connected", USERS[i % 8], _iso(at),
               USERS[(i + 1) % 8] if gone else None, _iso(at + 86400) if gone else None, f"Bench chat {c}")


_USERS_SQL = "ARRAY[" + ", ".join(f"'{u}'" for u in USERS) + "]"
_PG_SEGMENT = f"""
INSERT INTO connections ({COLUMNS})
SELECT $1::text, (ARRAY[{", ".join(f"'{t}'" for t in TYPES)}])[1 + r % 10], md5($2::text || ':r:' || r)::uuid::text,
       '19:' || md5($2::text || ':c:' || c) || '@thread.v2',
       CASE WHEN gone THEN 'disconnected' ELSE 'connected' END, ({_USERS_SQL})[1 + i % 8],
       to_char(at, 'YYYY-MM-DD"T"HH24:MI:SS') || '.000000+00:00',
       CASE WHEN gone THEN ({_USERS_SQL})[1 + (i + 1) % 8] END,
       CASE WHEN gone THEN to_char(at + interval '1 day', 'YYYY-MM-DD"T"HH24:MI:SS') || '.000000+00:00' END,
       'Bench chat ' || c
FROM (SELECT i, i % 20 = 19 AS gone, timestamp '2024-01-01' + ($5::bigint + i) * interval '3 seconds' AS at,
             (i / 15) * 5 + CASE WHEN i % 15 < 1 THEN 0 WHEN i % 15 < 3 THEN 1 WHEN i % 15 < 6 THEN 2
                                 WHEN i % 15 < 10 THEN 3 ELSE 4 END AS r,
             (p / 6) * 3 + CASE WHEN p % 6 < 1 THEN 0 WHEN p % 6 < 3 THEN 1 ELSE 2 END AS c
      FROM (SELECT i, (i * $4::bigint) % $3::bigint AS p
            FROM generate_series($6::bigint, $7::bigint) AS i) AS g) AS s
"""


def bench_chat_rows(conversations: int, tenant: str = DEMO_TENANT) -> list[Row]:
    """1-3 connections to demo-directory records for each of the load generator's groupChats (19:bench-N)."""
    rows: list[Row] = []
    for n in range(conversations):
        for j in range(1 + n % 3):
            rtype, rid = DEMO_RECORDS[(n + j) % len(DEMO_RECORDS)]
            rows.append((tenant, rtype, rid, f"19:bench-{n}@thread.v2", "connected", USERS[(n + j) % 8],
                         _iso(n * 7 + j), None, None, f"Bench chat {n}"))
    return rows


def _plan(rows: int, extra: Sequence[Row]) -> list[Segment]:
    bulk = rows - len(extra)
    return segments(bulk) if bulk >= 40 else []  # fewer rows cannot be spread (the extra rows suffice then)


# ---- SQLite -----------------------------------------------------------------------------------------------------

def _sqlite_indexes(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    return list(conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'connections' "
                             "AND sql IS NOT NULL"))


async def seed_sqlite(path: Path, rows: int, extra: Sequence[Row] = ()) -> SeedReport:
    """Migrate the file at `path` with the project's schema, then load `rows` connections (extra included)."""
    import asyncio

    db = await open_database(f"sqlite:///{path}")
    try:
        await migrate(db)
    finally:
        await db.close()
    return await asyncio.to_thread(_load_sqlite, path, rows, extra)


def _load_sqlite(path: Path, rows: int, extra: Sequence[Row], batch: int = 100_000) -> SeedReport:
    report = SeedReport(rows)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("PRAGMA cache_size=-262144")  # 256 MB for the index builds
        indexes = _sqlite_indexes(conn)
        t0 = time.perf_counter()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        sql = f"INSERT INTO connections ({COLUMNS}) VALUES ({', '.join('?' * 10)})"
        conn.execute("BEGIN")
        conn.executemany(sql, extra)
        base = 0
        for seg in _plan(rows, extra):
            it = python_rows(seg, base)
            while chunk := [r for _, r in zip(range(batch), it, strict=False)]:
                conn.executemany(sql, chunk)
            base += seg.rows
        conn.execute("COMMIT")
        t1 = time.perf_counter()
        for _, create in indexes:
            conn.execute(create)
        t2 = time.perf_counter()
        conn.execute("ANALYZE")
        report.load_s, report.index_s, report.analyze_s = t1 - t0, t2 - t1, time.perf_counter() - t2
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    report.sizes = {"file": path.stat().st_size}
    return report


# ---- PostgreSQL -------------------------------------------------------------------------------------------------

async def create_pg_database(admin_url: str, prefix: str = "cc_bench") -> str:
    """A new empty database next to admin_url's; returns its URL."""
    import asyncpg

    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def drop_pg_database(admin_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def _pg_parallel(url: str, statements: list[tuple[str, tuple[Any, ...]]], workers: int) -> None:
    """Run statements on `workers` connections at once (the load and the index builds use every core)."""
    import asyncio

    import asyncpg

    queue = list(reversed(statements))

    async def worker() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("SET synchronous_commit = off; SET maintenance_work_mem = '512MB'")
            while queue:
                sql, args = queue.pop()
                await conn.execute(sql, *args)
        finally:
            await conn.close()

    await asyncio.gather(*(worker() for _ in range(max(1, min(workers, len(statements))))))


async def seed_postgres(url: str, rows: int, extra: Sequence[Row] = (), workers: int = 2,
                        chunk: int = 1_000_000) -> SeedReport:
    """Migrate the (fresh) database at `url`, then load `rows` connections with INSERT ... SELECT generate_series."""
    import asyncpg

    db = await open_database(url)
    try:
        await migrate(db)
    finally:
        await db.close()
    report = SeedReport(rows)
    conn = await asyncpg.connect(url)
    try:
        indexes = [(r["indexname"], r["indexdef"]) for r in await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
            "AND tablename = 'connections' AND indexname NOT IN (SELECT conname FROM pg_constraint)")]
        t0 = time.perf_counter()
        for name, _ in indexes:
            await conn.execute(f'DROP INDEX "{name}"')
        if extra:  # (an empty executemany leaves asyncpg's implicit transaction open, blocking the index builds)
            await conn.executemany(f"INSERT INTO connections ({COLUMNS}) VALUES "
                                   f"($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)", extra)
        statements: list[tuple[str, tuple[Any, ...]]] = []
        base = 0
        for seg in _plan(rows, extra):
            for lo in range(0, seg.rows, chunk):
                hi = min(seg.rows, lo + chunk) - 1
                statements.append((_PG_SEGMENT, (seg.tenant, seg.tag, seg.rows, seg.step, base, lo, hi)))
            base += seg.rows
        await _pg_parallel(url, statements, workers)
        t1 = time.perf_counter()
        await _pg_parallel(url, [(create, ()) for _, create in indexes], workers)
        t2 = time.perf_counter()
        await conn.execute("ANALYZE connections")
        report.load_s, report.index_s, report.analyze_s = t1 - t0, t2 - t1, time.perf_counter() - t2
        sizes = await conn.fetchrow(
            "SELECT pg_database_size(current_database()) AS database, pg_table_size('connections') AS table, "
            "pg_indexes_size('connections') AS indexes")
        report.sizes = {k: int(v) for k, v in dict(sizes).items()} if sizes else {}
    finally:
        await conn.close()
    return report
