"""Quality of AI-suggested contacts on the deterministic evaluation set (bench/similar_data.py).

    python -m bench.similar_eval                      # SQLite FTS5 (the embedded default)
    python -m bench.similar_eval --backend postgresql # PostgreSQL full-text search, in a scratch database

Indexes the resolved cases with the shipped engine (store/similar.py), then for each held-out open case takes the
three people the shipped ranking (domain/similar.py) suggests and scores them against the topic's true experts:
precision@3 = right people among the three / 3; recall@3 = right people among the three / the topic's experts.
The baseline suggests the three people with the most resolutions overall. People who left are never eligible."""
from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bench.similar_data import NOW, Case, Dataset, generate
from domain.settings import CASE_DEFAULTS
from domain.similar import TOP_CASES, IndexedCase, case_text, query_terms, rank
from store.db import open_database
from store.migrations import migrate
from store.similar import SqlSimilarCases

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
FIELDS = ("title", "description")
LOOKBACK = timedelta(days=CASE_DEFAULTS.similar_lookback_days)


@dataclass(frozen=True)
class Score:
    precision: float
    recall: float


def score(suggested: Sequence[Sequence[str]], cases: Sequence[Case], data: Dataset) -> Score:
    p = r = 0.0
    for people, case in zip(suggested, cases, strict=True):
        right = len(set(people[:3]) & data.experts[case.topic])
        p += right / 3
        r += right / len(data.experts[case.topic])
    return Score(p / len(cases), r / len(cases))


def indexed(case: Case) -> IndexedCase:
    text = case_text({"title": case.title, "description": case.description}, FIELDS)
    return IndexedCase("incident", case.id, text, case.resolved_by, case.resolved_at, case.created_at)


async def lexical(engine: SqlSimilarCases, data: Dataset, threshold: float) -> list[list[str]]:
    active = {c.resolved_by for c in data.resolved} - data.left
    out = []
    for case in data.open_cases:
        terms = query_terms(f"{case.title} {case.description}")
        hits = await engine.search("incident", terms, case.id, NOW - LOOKBACK, TOP_CASES)
        out.append([e.user_id for e in rank(hits, NOW, threshold, active, limit=3)])
    return out


def baseline(data: Dataset) -> list[str]:
    counts = Counter(c.resolved_by for c in data.resolved if c.resolved_by not in data.left)
    return [p for p, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]


async def evaluate(backend: str, resolved: int, open_cases: int, thresholds: Sequence[float]) -> dict[str, Score]:
    data = generate(resolved, open_cases)
    scratch = None
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "sqlite":
            url = f"sqlite:///{tmp}/eval.db"
        else:
            from bench.seed import create_pg_database
            url = scratch = await create_pg_database(PG_ADMIN_URL, prefix="cc_eval")
        db = await open_database(url)
        try:
            await migrate(db)
            engine = SqlSimilarCases(db)
            for case in data.resolved:
                await engine.upsert(indexed(case))
            await engine.refresh_terms("incident")
            results = {"baseline (most resolutions overall)": score([baseline(data)] * len(data.open_cases),
                                                                    data.open_cases, data)}
            for t in thresholds:
                results[f"lexical, threshold {t:g}"] = score(await lexical(engine, data, t), data.open_cases, data)
            return results
        finally:
            await db.close()
            if scratch:
                from bench.seed import drop_pg_database
                await drop_pg_database(PG_ADMIN_URL, scratch)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.similar_eval", description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--resolved", type=int, default=5000)
    parser.add_argument("--open", type=int, default=500)
    parser.add_argument("--thresholds", default=str(CASE_DEFAULTS.similar_threshold),
                        help="comma-separated similarity thresholds to compare (default: the shipped default)")
    args = parser.parse_args()
    thresholds = [float(t) for t in args.thresholds.split(",")]
    results = asyncio.run(evaluate(args.backend, args.resolved, args.open, thresholds))
    print(f"{args.resolved} resolved cases, {args.open} held-out open cases, {args.backend}")
    print(f"{'suggester':<40} {'precision@3':>12} {'recall@3':>10}")
    for name, s in results.items():
        print(f"{name:<40} {s.precision:>12.3f} {s.recall:>10.3f}")


if __name__ == "__main__":
    main()
