"""The similarity engine (store/similar.py) on SQLite FTS5 and PostgreSQL full-text search: upserts, removal,
lookback, the common-term cut, and text of every kind (empty, huge, HTML, other languages, query syntax)."""
from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from domain.similar import IndexedCase, case_text, query_terms
from store.db import open_database
from store.migrations import migrate
from store.similar import MIN_COMMON, SqlSimilarCases

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.fixture
async def index(database_url: str) -> AsyncIterator[SqlSimilarCases]:
    db = await open_database(database_url)
    await migrate(db)
    yield SqlSimilarCases(db)
    await db.close()


def case(rid: str, text: str, by: str = "u1", age: float | None = 5) -> IndexedCase:
    at = NOW - timedelta(days=age) if age is not None else None
    return IndexedCase("incident", rid, case_text({"t": text}, ["t"]), by, at, at and at - timedelta(days=1))


async def find(index: SqlSimilarCases, text: str, since: datetime | None = None) -> list[str]:
    return [h.record_id for h in await index.search("incident", query_terms(text), "open-1", since, 50)]


async def test_upsert_is_idempotent_remove_forgets(index: SqlSimilarCases):
    await index.upsert(case("c1", "printer offline", by="u1"))
    await index.upsert(case("c1", "printer offline again", by="u2"))
    assert await index.count("incident") == 1
    [found] = await index.search("incident", ["printer"], "open-1", None, 10)
    assert (found.record_id, found.resolved_by) == ("c1", "u2")
    assert (await index.resolution("incident", "c1") or ("", None))[0] == "u2"
    await index.remove("incident", "c1")
    assert await index.count("incident") == 0 and await find(index, "printer") == []
    assert await index.resolution("incident", "c1") is None


async def test_the_case_itself_and_other_types_are_never_returned(index: SqlSimilarCases):
    await index.upsert(case("open-1", "printer offline"))
    await index.upsert(IndexedCase("msdyn_workorder", "w1", "printer offline", "u1"))
    assert await find(index, "printer offline") == []


async def test_lookback_keeps_recent_and_undated(index: SqlSimilarCases):
    await index.upsert(case("old", "printer offline", age=900))
    await index.upsert(case("new", "printer offline", age=10))
    await index.upsert(case("undated", "printer offline", age=None))
    assert sorted(await find(index, "printer", NOW - timedelta(days=730))) == ["new", "undated"]


async def test_stemming_matches_word_forms(index: SqlSimilarCases):
    await index.upsert(case("c1", "Printers were jammed"))
    assert await find(index, "printer jamming") == ["c1"]


async def test_words_in_most_cases_are_left_out_of_the_query(index: SqlSimilarCases):
    for i in range(MIN_COMMON * 2):
        await index.upsert(case(f"c{i}", f"common filler{i}"))
    await index.upsert(case("rare", "common toner"))
    await index.refresh_terms("incident")
    assert await find(index, "common") == []  # says nothing about the problem
    assert await find(index, "common toner") == ["rare"]


HOSTILE = {
    "empty": "",
    "huge": "printer " + "lorem ipsum dolor " * 70_000,
    "html": "<div style='x'><p>Drucker <b>offline</b></p><script>alert(1)</script>&lt;tag&gt; &amp;</div>",
    "syntax": '"unterminated OR NEAR( AND NOT * ^ col:x {a b} \' ;-- DROP TABLE similar_cases; \\ |&!:*',
    "nul": "printer\x00offline",
    "german": "Der Drucker druckt nicht mehr, Papierstau im Fach",
    "russian": "Принтер не печатает, замятие бумаги",
    "japanese": "プリンターがオフラインです",
    "arabic": "الطابعة لا تعمل",
    "emoji": "🖨️ printer 🔥 offline ❤️",
}


async def test_any_text_indexes_and_queries_without_errors(index: SqlSimilarCases):
    for name, text in HOSTILE.items():
        await index.upsert(case(name, text))
    await index.refresh_terms("incident")
    assert await index.count("incident") == len(HOSTILE)
    for text in HOSTILE.values():
        await find(index, text)  # never raises
    assert "german" in await find(index, "Papierstau im Drucker")
    assert "russian" in await find(index, "замятие бумаги")
    assert "japanese" in await find(index, "プリンターがオフラインです")  # a whole unsegmented run matches as one word
    assert "syntax" in await find(index, "unterminated")


async def test_postgresql_ranks_only_the_most_recent_matches_of_a_broad_query(database_url: str):
    """A query expected to match more cases than the engine ranks looks at the most recent matches; when those are
    fewer than asked for, it ranks all of them. SQLite always ranks every match."""
    db = await open_database(database_url)
    await migrate(db)
    try:
        broad, exact = SqlSimilarCases(db, candidates=10), SqlSimilarCases(db)
        for i in range(20):  # "a-" cases are old, so record-id order (the tie-break) puts them first
            await broad.upsert(case(f"a-old-{i:02d}", "spooler offline", age=300 + i))
            await broad.upsert(case(f"z-new-{i:02d}", "spooler offline", age=1 + i))
        await broad.upsert(case("a-undated", "spooler offline", age=None))
        await broad.refresh_terms("incident")
        terms = query_terms("offline spooler")
        window = [h.record_id for h in await broad.search("incident", terms, "open-1", None, 5)]
        everything = [h.record_id for h in await exact.search("incident", terms, "open-1", None, 5)]
        assert everything == ["a-old-00", "a-old-01", "a-old-02", "a-old-03", "a-old-04"]
        if db.dialect == "postgresql":
            assert len(window) == 5 and all(r.startswith("z-new-") for r in window)
            fewer = [h.record_id for h in await broad.search("incident", terms, "open-1", None, 20)]
            assert fewer[:3] == ["a-old-00", "a-old-01", "a-old-02"]  # the window held too few: all ranked
        else:
            assert window == everything
    finally:
        await db.close()


async def test_term_counts_follow_the_cases_indexed(database_url: str):
    """Without a backfill's recount, cases indexed one by one (the webhook path) still make a word common."""
    db = await open_database(database_url)
    await migrate(db)
    try:
        index = SqlSimilarCases(db, refresh_every=10)
        for i in range(MIN_COMMON * 2):
            await index.upsert(case(f"c{i}", f"common filler{i}"))
        await index.upsert(case("rare", "common toner"))
        assert await find(index, "common") == []
        assert await find(index, "common toner") == ["rare"]
    finally:
        await db.close()
