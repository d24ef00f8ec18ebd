"""Store lookups with many connections stored: seed, ANALYZE, time SqlConnectionStore's reads, show their plans.

    python -m bench.store_bench --backend sqlite --rows 1000000
    python -m bench.store_bench --backend postgresql --rows 10000000 [--url postgresql://postgres@127.0.0.1:5432/test]

PostgreSQL seeds a fresh database (cc_bench_<random>, next to --url's) that is dropped afterwards unless --keep;
SQLite seeds a file in a temporary directory (--path to choose it). bench/seed.py describes the distribution.
Each lookup runs --samples times for existing keys and as many for missing ones, one at a time through the
project's driver (store/db.py), after a short warm-up; the figures are per call in ms. Then each query's plan:
PostgreSQL EXPLAIN (ANALYZE, BUFFERS) with one existing key plus the generic plan a long-lived prepared statement
may switch to; SQLite EXPLAIN QUERY PLAN.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import re
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import seed
from store.connections import SqlConnectionStore
from store.db import Database, Row, open_database, placeholders

PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
TARGET_P99_MS = 2.0


@dataclass(frozen=True)
class Key:
    tenant: str
    rtype: str
    rid: str
    chat: str


Lookup = Callable[[SqlConnectionStore, Key], Awaitable[Any]]
LOOKUPS: dict[str, Lookup] = {
    "for_record": lambda s, k: s.for_record(k.tenant, k.rtype, k.rid),
    "for_record+history": lambda s, k: s.for_record(k.tenant, k.rtype, k.rid, include_history=True),
    "for_record_any_tenant": lambda s, k: s.for_record_any_tenant(k.rtype, k.rid),
    "for_chat": lambda s, k: s.for_chat(k.tenant, k.chat),
    "active": lambda s, k: s.active(k.tenant, k.rtype, k.rid, k.chat),
    "last_connector": lambda s, k: s.last_connector(k.tenant, k.rtype, k.rid, k.chat),
}


class _Recorder:
    """A Database that remembers the last statement, so the plans shown are those of the store's own SQL."""

    def __init__(self, db: Database) -> None:
        self.db, self.dialect = db, db.dialect
        self.last: tuple[str, tuple[Any, ...]] = ("", ())

    async def execute(self, sql: str, *args: Any) -> int:
        self.last = (sql, args)
        return await self.db.execute(sql, *args)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        self.last = (sql, args)
        return await self.db.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        self.last = (sql, args)
        return await self.db.fetchrow(sql, *args)

    def transaction(self) -> Any:
        return self.db.transaction()

    async def close(self) -> None:
        await self.db.close()


async def sample_keys(db: Database, n: int, rng: random.Random) -> tuple[list[Key], list[Key], list[Key]]:
    """(existing rows, existing active rows, missing keys): misses pair a real record with a real chat it is not
    connected to, and carry unknown record and chat ids for the by-record and by-chat lookups."""
    top = await db.fetchrow("SELECT MAX(id) AS n FROM connections")
    last = int(top["n"]) if top and top["n"] else 0
    ids = rng.sample(range(1, last + 1), min(2 * n, last))
    rows: list[Row] = []
    for lo in range(0, len(ids), 500):
        chunk = ids[lo:lo + 500]
        rows += await db.fetch(f"SELECT tenant_id, record_type, record_id, chat_id, state FROM connections "
                               f"WHERE id IN ({placeholders(1, len(chunk))})", *chunk)
    rng.shuffle(rows)
    hits = [Key(r["tenant_id"], r["record_type"], r["record_id"], r["chat_id"]) for r in rows]
    active = [k for k, r in zip(hits, rows, strict=True) if r["state"] == "connected"]
    misses = [Key(a.tenant, a.rtype, str(uuid.UUID(int=rng.getrandbits(128))), b.chat)
              for a, b in zip(hits, reversed(hits), strict=True)]
    return hits[:n], active[:n], misses[:n]


def _pct(values: Sequence[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


async def _time(store: SqlConnectionStore, fn: Lookup, keys: Sequence[Key]) -> tuple[list[float], float]:
    """Latencies in ms, one call at a time, and the mean number of rows returned."""
    lat, found = [], 0
    for k in keys:
        t0 = time.perf_counter()
        res = await fn(store, k)
        lat.append((time.perf_counter() - t0) * 1000)
        found += len(res) if isinstance(res, Sequence) and not isinstance(res, str) else int(res is not None)
    return lat, found / max(1, len(keys))


def _miss_key(name: str, hit: Key, miss: Key) -> Key:
    """by-record lookups miss on an unknown record; by-chat on an unknown chat; pair lookups on a real pair."""
    if name == "for_chat":
        return Key(hit.tenant, hit.rtype, hit.rid, "19:" + miss.rid.replace("-", "") + "@thread.v2")
    if name.startswith("for_record"):
        return Key(hit.tenant, hit.rtype, miss.rid, hit.chat)
    return Key(hit.tenant, hit.rtype, hit.rid, miss.chat)


async def server_ms(db: Database, fn: Lookup, keys: Sequence[Key]) -> list[float]:
    """PostgreSQL's own planning + execution time per call (EXPLAIN ANALYZE): the query without client,
    network and scheduler time, to tell a slow query from a busy machine."""
    rec = _Recorder(db)
    store = SqlConnectionStore(rec, cached_reads=False)
    out = []
    for k in keys:
        await fn(store, k)
        sql, args = rec.last
        row = await db.fetchrow("EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) " + sql, *args)
        plan = json.loads(row["QUERY PLAN"])[0] if row else {}
        out.append(float(plan.get("Planning Time", 0.0)) + float(plan.get("Execution Time", 0.0)))
    return out


async def measure(db: Database, samples: int, warmup: int, rng: random.Random) -> list[dict[str, Any]]:
    store = SqlConnectionStore(db, cached_reads=False)
    hits, active, misses = await sample_keys(db, samples, rng)
    # The driver's own floor (pool, round trip, event loop): a lookup's tail above it is the query's.
    lat, _ = await _time(store, lambda s, k: db.fetchrow("SELECT 1 AS one"), hits[:warmup] + hits)
    results = [{"query": "SELECT 1 (driver floor)", "keys": "-", "calls": len(hits), "rows": 1.0,
                "p50": _pct(lat[warmup:], 0.5), "p99": _pct(lat[warmup:], 0.99), "max": max(lat[warmup:]),
                "server": float("nan")}]
    for name, fn in LOOKUPS.items():
        existing = active if name == "active" else hits
        missing = [_miss_key(name, h, m) for h, m in zip(hits, misses, strict=False)]
        await _time(store, fn, existing[:warmup] + missing[:warmup])
        for kind, keys in (("existing", existing), ("missing", missing)):
            lat, rows = await _time(store, fn, keys)
            server = await server_ms(db, fn, keys[:300]) if db.dialect == "postgresql" else []
            results.append({"query": name, "keys": kind, "calls": len(lat), "rows": rows, "p50": _pct(lat, 0.5),
                            "p99": _pct(lat, 0.99), "max": max(lat, default=float("nan")),
                            "server": _pct(server, 0.99)})
    return results


def _literal(v: Any) -> str:
    return "'" + str(v).replace("'", "''") + "'"


async def _pg_plans(db: Database, sql: str, args: tuple[Any, ...]) -> tuple[list[str], list[str]]:
    analyzed = [r["QUERY PLAN"] for r in await db.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *args)]
    async with db.transaction() as tx:  # one connection: the prepared statement and the setting live there
        await tx.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        await tx.execute("PREPARE bench_plan AS " + sql)
        generic = [r["QUERY PLAN"] for r in await tx.fetch(
            f"EXPLAIN EXECUTE bench_plan({', '.join(map(_literal, args))})")]
        await tx.execute("DEALLOCATE bench_plan")
    return analyzed, generic


def uses_index(dialect: str, plan: Sequence[str]) -> bool:
    text = "\n".join(plan)
    if dialect == "postgresql":
        return "Seq Scan" not in text and re.search(r"Index (Only )?Scan", text) is not None
    touching = [ln for ln in plan if "connections" in ln]
    return bool(touching) and all("INDEX" in ln for ln in touching if "SCAN" in ln or "SEARCH" in ln)


async def plans(db: Database, key: Key) -> list[dict[str, Any]]:
    rec = _Recorder(db)
    store = SqlConnectionStore(rec, cached_reads=False)
    out = []
    for name, fn in LOOKUPS.items():
        await fn(store, key)
        sql, args = rec.last
        if db.dialect == "postgresql":
            plan, generic = await _pg_plans(db, sql, args)
        else:
            plan = [r["detail"] for r in await db.fetch("EXPLAIN QUERY PLAN " + sql, *args)]
            generic = []
        out.append({"query": name, "sql": " ".join(sql.split()), "plan": plan, "generic": generic,
                    "index": uses_index(db.dialect, plan) and (not generic or uses_index(db.dialect, generic))})
    return out


def print_figures(results: list[dict[str, Any]]) -> None:
    print("\nlookups (ms per call, one at a time through store/db.py):")
    print(f"| {'query':<23} | {'keys':<8} | {'calls':>5} | {'rows/call':>9} | {'p50':>6} | {'p99':>6} | {'max':>7} "
          f"| {'server p99':>10} |")
    print(f"|{'-' * 25}|{'-' * 10}|{'-' * 7}|{'-' * 11}|{'-' * 8}|{'-' * 8}|{'-' * 9}|{'-' * 12}|")
    for r in results:
        server = "-" if math.isnan(r["server"]) else f"{r['server']:.3f}"
        print(f"| {r['query']:<23} | {r['keys']:<8} | {r['calls']:>5} | {r['rows']:>9.2f} | {r['p50']:>6.3f} | "
              f"{r['p99']:>6.3f} | {r['max']:>7.3f} | {server:>10} |")
    if any(not math.isnan(r["server"]) for r in results):
        print("server p99 = PostgreSQL planning + execution time (EXPLAIN ANALYZE) over the first 300 keys")


def print_plans(dialect: str, found: list[dict[str, Any]]) -> None:
    title = "EXPLAIN (ANALYZE, BUFFERS)" if dialect == "postgresql" else "EXPLAIN QUERY PLAN"
    for p in found:
        print(f"\n== {p['query']}: {p['sql']}\n-- {title}, an existing key:")
        print("\n".join("   " + ln for ln in p["plan"]))
        if p["generic"]:
            print("-- generic plan (plan_cache_mode = force_generic_plan):")
            print("\n".join("   " + ln for ln in p["generic"]))
        print(f"-- uses an index: {'yes' if p['index'] else 'NO'}")


def verdict(results: list[dict[str, Any]], found: list[dict[str, Any]]) -> str:
    slow = [f"{r['query']} ({r['keys']}) p99 {r['p99']:.2f} ms" for r in results
            if r["p99"] > TARGET_P99_MS and r["keys"] != "-"]
    scans = [p["query"] for p in found if not p["index"]]
    if not slow and not scans:
        return f"target met: every lookup p99 under {TARGET_P99_MS:g} ms and every plan uses an index"
    return "target MISSED: " + "; ".join(slow + [f"{q} plan without an index" for q in scans])


async def run(args: argparse.Namespace) -> None:
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="store-bench-") as tmp:
        if args.backend == "sqlite":
            path = Path(args.path) if args.path else Path(tmp) / "store.db"
            url = args.existing or f"sqlite:///{path}"
            if not args.existing:
                print(f"store_bench: sqlite, seeding {args.rows:,} connections into {path}", flush=True)
                print((await seed.seed_sqlite(path, args.rows)).line(), flush=True)
        else:
            url = args.existing or await seed.create_pg_database(args.url)
            print(f"store_bench: postgresql, database {url.rsplit('/', 1)[1]}", flush=True)
        try:
            if args.backend == "postgresql" and not args.existing:
                print(f"seeding {args.rows:,} connections ({args.workers} connections in parallel)", flush=True)
                print((await seed.seed_postgres(url, args.rows, workers=args.workers)).line(), flush=True)
            db = await open_database(url)
            try:
                results = await measure(db, args.samples, args.warmup, rng)
                active = (await sample_keys(db, 200, rng))[1]
                key = next((k for k in active if k.tenant == seed.DEMO_TENANT), active[0])  # the big tenant
                found = await plans(db, key)
            finally:
                await db.close()
        finally:
            if args.backend == "postgresql" and not args.keep and not args.existing:
                await seed.drop_pg_database(args.url, url)
            elif args.backend == "postgresql":
                print(f"kept database {url}")
            if args.backend == "sqlite" and args.keep and not args.path:
                kept = Path(tempfile.gettempdir()) / f"store-bench-{uuid.uuid4().hex[:8]}.db"
                os.replace(path, kept)
                print(f"kept {kept}")
    print_figures(results)
    print_plans(db.dialect, found)
    print("\n" + verdict(results, found))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", choices=["sqlite", "postgresql"], required=True)
    p.add_argument("--rows", type=int, default=1_000_000, help="connections to seed (at least 40)")
    p.add_argument("--url", default=PG_ADMIN, help="PostgreSQL server URL; the bench database is created next to it")
    p.add_argument("--path", help="SQLite: the file to seed (default: a temporary file)")
    p.add_argument("--existing", help="measure this already seeded database URL (no seeding, never dropped)")
    p.add_argument("--keep", action="store_true", help="keep the seeded database (PostgreSQL) or file (SQLite)")
    p.add_argument("--samples", type=int, default=2000, help="calls per lookup and key kind")
    p.add_argument("--warmup", type=int, default=100, help="untimed calls per lookup first")
    p.add_argument("--workers", type=int, default=2, help="PostgreSQL: parallel connections for the load")
    p.add_argument("--seed", type=int, default=8, help="random seed for the sampled keys")
    args = p.parse_args()
    if args.rows < 40:
        p.error("--rows must be at least 40")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
