"""Would a semantic re-ranker raise the precision of AI-suggested contacts? An experiment, not a shipped part.

    pip install wordllama && python -m bench.similar_rerank

WordLlama (MIT, a 19 MB wheel with its 256-dimension static embedding weights and tokenizer inside, numpy only,
no PyTorch) is the one packaged sentence-embedding model found on the registry that runs without a download (its
0.4.0 wheel looks for the bundled tokenizer in the wrong folder, so it is loaded with its own package folder as
the cache and downloads disabled). On the evaluation set (bench/similar_data.py, as bench.similar_eval) this
scores, for the same 500 open cases: the shipped lexical ranking (SQLite FTS5), its 50 similar cases re-scored by
a mix of lexical similarity and embedding cosine (weights 0.75/0.5/0.25/0), and the 50 nearest cases by
embedding alone. The similar cases' text comes from the generated set (the index keeps no text on PostgreSQL)."""
from __future__ import annotations

import asyncio
import importlib
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.similar_data import NOW, generate
from bench.similar_eval import LOOKBACK, indexed, score
from domain.similar import TOP_CASES, Hit, query_terms, rank
from store.db import open_database
from store.migrations import migrate
from store.similar import SqlSimilarCases

MIXES = (1.0, 0.75, 0.5, 0.25, 0.0)  # weight of the lexical similarity; the rest is embedding cosine


def load_model() -> Any:
    package = importlib.import_module("wordllama")
    return package.WordLlama.load(cache_dir=Path(str(package.__file__)).parent, disable_download=True)


async def run(resolved: int, open_cases: int) -> dict[str, tuple[float, float]]:
    model = load_model()
    data = generate(resolved, open_cases)
    ids = [c.id for c in data.resolved]
    by_id = {c.id: c for c in data.resolved}
    vectors = model.embed([f"{c.title} {c.description}" for c in data.resolved], norm=True)
    row = {rid: k for k, rid in enumerate(ids)}
    active = {c.resolved_by for c in data.resolved} - data.left
    picks: dict[str, list[list[str]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        db = await open_database(f"sqlite:///{tmp}/rerank.db")
        await migrate(db)
        engine = SqlSimilarCases(db)
        for case in data.resolved:
            await engine.upsert(indexed(case))
        for case in data.open_cases:
            text = f"{case.title} {case.description}"
            query = model.embed([text], norm=True)[0]
            hits = await engine.search("incident", query_terms(text), case.id, NOW - LOOKBACK, TOP_CASES)
            top = max((h.score for h in hits), default=0.0) or 1.0
            for mix in MIXES:
                mixed = [replace(h, score=mix * h.score / top
                                 + (1 - mix) * max(0.0, float(vectors[row[h.record_id]] @ query))) for h in hits]
                picks.setdefault(f"lexical x {mix:g} + cosine x {1 - mix:g}", []).append(
                    [e.user_id for e in rank(mixed, NOW, 0.1, active, limit=3)])
            cos = vectors @ query
            near = [Hit(ids[k], by_id[ids[k]].resolved_by, float(max(cos[k], 0.0)), by_id[ids[k]].resolved_at,
                        by_id[ids[k]].created_at) for k in sorted(range(len(ids)), key=lambda k: -cos[k])[:TOP_CASES]]
            picks.setdefault("embedding nearest 50 only", []).append(
                [e.user_id for e in rank(near, NOW, 0.1, active, limit=3)])
        await db.close()
    return {name: (s.precision, s.recall) for name, p in picks.items() for s in [score(p, data.open_cases, data)]}


def main() -> None:
    results = asyncio.run(run(5000, 500))
    print(f"{'ranking':<40} {'precision@3':>12} {'recall@3':>10}")
    for name, (p, r) in results.items():
        print(f"{name:<40} {p:>12.3f} {r:>10.3f}")


if __name__ == "__main__":
    main()
