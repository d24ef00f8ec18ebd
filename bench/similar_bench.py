"""Similar-case suggestions at scale: query latency, index update latency, memory and index size.

    python -m bench.similar_bench --backend sqlite --cases 100000
    python -m bench.similar_bench --backend postgresql --cases 1000000

Loads --cases resolved cases from the evaluation generator (bench/similar_data.py, so the vocabulary is the same
small support vocabulary: every query term matches many cases, a hard case for ranking) in bulk, then times, one
at a time through the project's driver: the whole suggestion query (terms, engine search, ranking) for --queries
open cases, and --updates single-case index updates (the webhook path). Figures in ms; memory is this process's
peak RSS plus the index's size on disk. PostgreSQL runs in a scratch database dropped afterwards."""
from __future__ import annotations

import argparse
import asyncio
import os
import resource
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.similar_data import NOW, Case, generate
from bench.similar_eval import LOOKBACK, indexed, score
from domain.settings import CASE_DEFAULTS
from domain.similar import TOP_CASES, query_terms, rank
from store.db import Database, open_database
from store.migrations import migrate
from store.similar import PG_CONFIG, SqlSimilarCases

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
BATCH = 5000


def _at(case: Case, field: str) -> str | None:
    value = getattr(case, field)
    return value.isoformat(timespec="seconds") if value else None


async def bulk_load(db: Database, cases: list[Case]) -> None:
    """The same rows the adapter writes, in batches (a backfill of this size would take the reindex command)."""
    stamp = NOW.isoformat()
    for start in range(0, len(cases), BATCH):
        part = [indexed(c) for c in cases[start:start + BATCH]]
        cols = [[c.record_type for c in part], [c.record_id for c in part], [c.resolved_by for c in part],
                [_at(c, "resolved_at") for c in cases[start:start + BATCH]],
                [_at(c, "created_at") for c in cases[start:start + BATCH]], [c.text for c in part]]
        if db.dialect == "postgresql":
            await db.execute(
                f"""INSERT INTO similar_cases (record_type, record_id, resolved_by, resolved_at, created_at,
                        indexed_at, body)
                    SELECT t, i, b, r, c, $7, to_tsvector('{PG_CONFIG}', x)
                    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                        AS u(t, i, b, r, c, x)""", *cols, stamp)
            continue
        async with db.transaction() as tx:
            for t, i, b, r, c, x in zip(*cols, strict=True):
                row = await tx.fetchrow(
                    """INSERT INTO similar_cases (record_type, record_id, resolved_by, resolved_at, created_at,
                           indexed_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id""", t, i, b, r, c, stamp)
                assert row is not None
                await tx.execute("INSERT INTO similar_text (rowid, body) VALUES ($1, $2)", row["id"], x)


async def timed(samples: int, make: Callable[[int], Awaitable[Any]]) -> list[float]:
    out = []
    for i in range(samples):
        start = time.perf_counter()
        await make(i)
        out.append((time.perf_counter() - start) * 1000)
    return sorted(out)


def pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))]


async def index_bytes(db: Database, path: Path | None) -> int:
    if db.dialect == "postgresql":
        row = await db.fetchrow("SELECT pg_total_relation_size('similar_cases') AS n")
        return int(row["n"]) if row else 0
    assert path is not None
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


async def run(backend: str, cases: int, queries: int, updates: int) -> dict[str, float]:
    started = time.perf_counter()
    data = generate(cases, queries)
    scratch, path = None, None
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            path = Path(tmp) / "bench.db"
            url = f"sqlite:///{path}"
        else:
            from bench.seed import create_pg_database
            url = scratch = await create_pg_database(PG_ADMIN_URL, prefix="cc_similar")
        db = await open_database(url)
        try:
            await migrate(db)
            await bulk_load(db, data.resolved)
            engine = SqlSimilarCases(db)
            await engine.refresh_terms("incident")
            await engine.optimize()  # as the backfill command ends
            loaded = time.perf_counter() - started

            active = {c.resolved_by for c in data.resolved} - data.left
            suggested: dict[int, list[str]] = {}

            async def suggest(i: int) -> None:
                case = data.open_cases[i % len(data.open_cases)]
                hits = await engine.search("incident", query_terms(f"{case.title} {case.description}"), case.id,
                                           NOW - LOOKBACK, TOP_CASES)
                people = rank(hits, NOW, CASE_DEFAULTS.similar_threshold, active, limit=3)
                suggested[i % len(data.open_cases)] = [e.user_id for e in people]

            async def update(i: int) -> None:
                case = data.resolved[(i * 7919) % len(data.resolved)]
                await engine.upsert(replace(indexed(case), text=f"{case.title} {case.description} updated {i}"))

            await timed(min(20, queries), suggest)  # warm-up
            q = await timed(queries, suggest)
            u = await timed(updates, update)
            asked = sorted(suggested)
            quality = score([suggested[i] for i in asked], [data.open_cases[i] for i in asked], data)
            return {"cases": cases, "load_s": loaded, "query_p50": pct(q, 50), "query_p99": pct(q, 99),
                    "precision": quality.precision, "recall": quality.recall,
                    "update_p50": pct(u, 50), "update_p99": pct(u, 99),
                    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                    "index_mb": await index_bytes(db, path) / 1e6}
        finally:
            await db.close()
            if scratch:
                from bench.seed import drop_pg_database
                await drop_pg_database(PG_ADMIN_URL, scratch)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.similar_bench", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args()
    r = asyncio.run(run(args.backend, args.cases, args.queries, args.updates))
    print(f"| backend | cases | query p50 ms | query p99 ms | update p50 ms | update p99 ms | peak RSS MB | "
          f"index MB | load s | precision@3 | recall@3 |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
          f"| {args.backend} | {r['cases']:,.0f} | {r['query_p50']:.1f} | {r['query_p99']:.1f} | "
          f"{r['update_p50']:.2f} | {r['update_p99']:.2f} | {r['rss_mb']:.0f} | {r['index_mb']:.0f} | "
          f"{r['load_s']:.0f} | {r['precision']:.3f} | {r['recall']:.3f} |")


if __name__ == "__main__":
    main()
