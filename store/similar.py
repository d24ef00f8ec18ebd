"""The similarity engine (domain.ports.SimilarCases) in the service's own database.

SQLite: an FTS5 table (Porter stemmer over unicode61 words, diacritics folded) ranked by bm25. PostgreSQL: a
tsvector column (english configuration) with a GIN index, ranked by ts_rank_cd. Both keep one row per resolved
case with its resolver and dates; a query is an OR of the open case's content words, so it never fails on text
(the words are letters and digits only, quoted for FTS5)."""
from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from domain.similar import Hit, IndexedCase
from store.db import Database, Row, placeholders

PG_CONFIG = "english"  # the text search configuration (stemmer, stop words) of the PostgreSQL index
# A query keeps the KEEP_TERMS rarest of the open case's words and drops words found in more than COMMON_SHARE of
# the resolved cases (at least MIN_COMMON): they say little about the problem, and each would make the engine rank
# a large share of the index (measured: 6x slower at 100,000 cases).
KEEP_TERMS = 8
PG_RANK = "ts_rank_cd(body, q, 1)"  # cover density, normalised by document length
COMMON_SHARE = 0.05
MIN_COMMON = 50
# PostgreSQL reads and ranks every case a query matches; where the kept words are expected to match more than
# this many, only the most recent matches are ranked (recency is a ranking factor anyway). Measured at 1,000,000
# cases: about 2,000 matches rank in ~20 ms, all of them (up to ~75,000) in 0.5-2 s.
CANDIDATES = 2000
# PostgreSQL's term counts (similar_terms, from ts_stat) are recounted when this share of a type's cases changed.
REFRESH_SHARE = 0.05
REFRESH_MIN = 1000
_TERMS_LOCK = 7_202_612  # advisory lock key (with the type's hash): one replica recounts a type's terms at a time
# The kept lexemes of the open case's text with their document counts and the type's case count (similar_terms).
_PG_KEPT = f"""
    WITH lex AS (SELECT lexeme FROM unnest(to_tsvector('{PG_CONFIG}', $1))),
    total AS (SELECT docs FROM similar_terms WHERE record_type = $2 AND lexeme = '')
    SELECT quote_literal(l.lexeme) AS quoted, s.docs, (SELECT docs FROM total) AS total FROM lex l
    LEFT JOIN similar_terms s ON s.record_type = $2 AND s.lexeme = l.lexeme
    WHERE s.docs IS NULL OR s.docs <= GREATEST($3, (SELECT docs FROM total) * $4::float8)
    ORDER BY s.docs ASC NULLS LAST, l.lexeme LIMIT $5"""
_PG_RANKED = f"""SELECT record_id, resolved_by, resolved_at, created_at, {PG_RANK} AS score
    FROM similar_cases, CAST($1 AS tsquery) AS q WHERE body @@ q AND record_type = $2 AND record_id <> $3 AND """
_PG_ALL = _PG_RANKED + "(resolved_at IS NULL OR resolved_at >= $4) ORDER BY score DESC, record_id LIMIT $5"
# Undated resolutions have no place in a window of the most recent ones.
_PG_RECENT = _PG_RANKED + "resolved_at >= $4 ORDER BY score DESC, record_id LIMIT $5"


@cache
def _porter() -> Any:
    """The algorithm of FTS5's porter tokenizer. Loaded on the first SQLite query: the package imports every
    language's stemmer (~3 MB), which a process that never searches (or runs on PostgreSQL) need not hold."""
    import snowballstemmer

    return snowballstemmer.stemmer("porter")


def _fold(word: str) -> str:
    """Lower case without diacritics, as FTS5's unicode61 tokenizer (remove_diacritics 2) folds words."""
    return "".join(c for c in unicodedata.normalize("NFKD", word.lower()) if not unicodedata.combining(c))


def _at(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _dt(value: str | None) -> datetime | None:
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _hit(row: Row) -> Hit:
    return Hit(row["record_id"], row["resolved_by"], float(row["score"]), _dt(row["resolved_at"]),
               _dt(row["created_at"]))


class SqlSimilarCases:
    def __init__(self, db: Database, candidates: int = CANDIDATES, refresh_every: int = REFRESH_MIN) -> None:
        self._db = db
        self._candidates = candidates
        self._refresh_min = refresh_every
        self._changes: dict[str, int] = {}  # PostgreSQL: changes per type since this process last recounted terms
        self._due: dict[str, int] = {}

    async def search(self, record_type: str, terms: Sequence[str], exclude_id: str, since: datetime | None,
                     limit: int) -> Sequence[Hit]:
        if not terms:
            return []
        since_text = _at(since) or ""
        if self._db.dialect == "postgresql":
            return await self._pg_search(record_type, terms, exclude_id, since_text, limit)
        kept = await self._sqlite_kept(terms)
        if not kept:
            return []
        rows = await self._db.fetch(
            """SELECT c.record_id, c.resolved_by, c.resolved_at, c.created_at, -bm25(similar_text) AS score
               FROM similar_text JOIN similar_cases c ON c.id = similar_text.rowid
               WHERE similar_text MATCH $1 AND c.record_type = $2 AND c.record_id <> $3
                 AND (c.resolved_at IS NULL OR c.resolved_at >= $4)
               ORDER BY bm25(similar_text), c.record_id LIMIT $5""",
            " OR ".join(f'"{t}"' for t in kept), record_type, exclude_id, since_text, limit)
        return [_hit(r) for r in rows]

    async def _pg_search(self, record_type: str, terms: Sequence[str], exclude_id: str, since: str,
                         limit: int) -> list[Hit]:
        """Rank the matches of the kept terms; when they are expected to number more than CANDIDATES, rank only
        the most recent ones: the resolutions since the date before which about CANDIDATES matches lie."""
        kept = await self._db.fetch(_PG_KEPT, " ".join(terms), record_type, MIN_COMMON, COMMON_SHARE, KEEP_TERMS)
        if not kept:
            return []
        query = " | ".join(r["quoted"] for r in kept)
        expected, total = sum(int(r["docs"] or 0) for r in kept), int(kept[0]["total"] or 0)
        if expected > self._candidates and total:
            edge = await self._db.fetchrow(
                """SELECT resolved_at FROM similar_cases WHERE record_type = $1 AND resolved_at >= $2
                   ORDER BY resolved_at DESC OFFSET $3 LIMIT 1""", record_type, since,
                total * self._candidates // expected)
            if edge is not None:
                rows = await self._db.fetch(_PG_RECENT, query, record_type, exclude_id, edge["resolved_at"], limit)
                if len(rows) >= limit:
                    return [_hit(r) for r in rows]
        return [_hit(r) for r in await self._db.fetch(_PG_ALL, query, record_type, exclude_id, since, limit)]

    async def _sqlite_kept(self, terms: Sequence[str]) -> list[str]:
        """The KEEP_TERMS rarest terms, leaving out those in more than COMMON_SHARE of the indexed cases (FTS5's
        own vocabulary gives each stem's document count; the stems are computed as its Porter tokenizer does)."""
        # FTS5 folds Latin diacritics but keeps, say, a katakana sound mark: look up both spellings.
        stem = _porter().stemWord
        forms = {t: (stem(_fold(t)), stem(t.lower())) for t in terms}
        distinct = sorted({f for pair in forms.values() for f in pair})
        found = {r["term"]: int(r["doc"]) for r in await self._db.fetch(
            f"SELECT term, doc FROM similar_vocab WHERE term IN ({placeholders(1, len(distinct))})", *distinct)}
        stems = {t: next((f for f in pair if f in found), pair[0]) for t, pair in forms.items()}
        total = await self._db.fetchrow("SELECT COUNT(*) AS n FROM similar_cases")
        cap = max(MIN_COMMON, (int(total["n"]) if total else 0) * COMMON_SHARE)
        ranked = sorted((found[stems[t]], t) for t in terms if 0 < found.get(stems[t], 0) <= cap)
        return [t for _, t in ranked[:KEEP_TERMS]]

    async def refresh_terms(self, record_type: str) -> None:
        """PostgreSQL: recount each lexeme's documents (ts_stat) for the query's common-term cut; SQLite's FTS5
        vocabulary is always current. Run after a backfill and now and then as cases are indexed."""
        if self._db.dialect != "postgresql":
            return
        async with self._db.transaction() as tx:
            # One replica recounts at a time; the others keep the counts it is about to write.
            locked = await tx.fetchrow("SELECT pg_try_advisory_xact_lock($1, hashtext($2)) AS ok", _TERMS_LOCK,
                                       record_type)
            if not locked or not locked["ok"]:
                return
            await tx.execute("DELETE FROM similar_terms WHERE record_type = $1", record_type)
            await tx.execute(
                """INSERT INTO similar_terms (record_type, lexeme, docs)
                   SELECT $1, word, ndoc FROM ts_stat(format('SELECT body FROM similar_cases WHERE record_type = %L',
                                                             $1::text))""", record_type)
            await tx.execute("""INSERT INTO similar_terms (record_type, lexeme, docs)
                                SELECT $1, '', COUNT(*) FROM similar_cases WHERE record_type = $1""", record_type)
        self._due[record_type] = max(self._refresh_min, int(await self.count(record_type) * REFRESH_SHARE))

    async def optimize(self) -> None:
        """After a bulk load: PostgreSQL vacuums and analyzes (the recency window's index-only scan needs the
        visibility map, the planner current statistics); SQLite merges FTS5's segments."""
        if self._db.dialect == "postgresql":
            await self._db.execute("VACUUM (ANALYZE) similar_cases")
        else:
            await self._db.execute("INSERT INTO similar_text (similar_text) VALUES ('optimize')")

    async def _changed(self, record_type: str) -> None:
        """Keep PostgreSQL's term counts current as the webhook indexes cases: recount after REFRESH_SHARE of
        the index (at least REFRESH_MIN cases) changed through this process."""
        if self._db.dialect != "postgresql":
            return
        self._changes[record_type] = self._changes.get(record_type, 0) + 1
        if self._changes[record_type] >= self._due.get(record_type, self._refresh_min):
            self._changes[record_type] = 0
            await self.refresh_terms(record_type)

    async def upsert(self, case: IndexedCase) -> None:
        args = (case.record_type, case.record_id, case.resolved_by, _at(case.resolved_at), _at(case.created_at),
                _at(datetime.now(UTC)))
        text = case.text.replace("\x00", " ")
        if self._db.dialect == "postgresql":
            await self._db.execute(
                f"""INSERT INTO similar_cases (record_type, record_id, resolved_by, resolved_at, created_at,
                        indexed_at, body) VALUES ($1, $2, $3, $4, $5, $6, to_tsvector('{PG_CONFIG}', $7))
                    ON CONFLICT (record_type, record_id) DO UPDATE SET resolved_by = EXCLUDED.resolved_by,
                        resolved_at = EXCLUDED.resolved_at, created_at = EXCLUDED.created_at,
                        indexed_at = EXCLUDED.indexed_at, body = EXCLUDED.body""", *args, text)
            await self._changed(case.record_type)
            return
        async with self._db.transaction() as tx:
            row = await tx.fetchrow(
                """INSERT INTO similar_cases (record_type, record_id, resolved_by, resolved_at, created_at, indexed_at)
                   VALUES ($1, $2, $3, $4, $5, $6)
                   ON CONFLICT (record_type, record_id) DO UPDATE SET resolved_by = excluded.resolved_by,
                       resolved_at = excluded.resolved_at, created_at = excluded.created_at,
                       indexed_at = excluded.indexed_at
                   RETURNING id""", *args)
            assert row is not None
            await tx.execute("DELETE FROM similar_text WHERE rowid = $1", row["id"])
            await tx.execute("INSERT INTO similar_text (rowid, body) VALUES ($1, $2)", row["id"], text)

    async def remove(self, record_type: str, record_id: str) -> None:
        async with self._db.transaction() as tx:
            row = await tx.fetchrow("DELETE FROM similar_cases WHERE record_type = $1 AND record_id = $2 RETURNING id",
                                    record_type, record_id)
            if row and self._db.dialect == "sqlite":
                await tx.execute("DELETE FROM similar_text WHERE rowid = $1", row["id"])
        await self._changed(record_type)

    async def resolution(self, record_type: str, record_id: str) -> tuple[str, datetime | None] | None:
        """Who resolved an indexed case and when; None when it is not in the index."""
        row = await self._db.fetchrow("""SELECT resolved_by, resolved_at FROM similar_cases
                                         WHERE record_type = $1 AND record_id = $2""", record_type, record_id)
        return (row["resolved_by"], _dt(row["resolved_at"])) if row else None

    async def count(self, record_type: str) -> int:
        row = await self._db.fetchrow("SELECT COUNT(*) AS n FROM similar_cases WHERE record_type = $1", record_type)
        return int(row["n"]) if row else 0

    # -- backfill progress (python -m store.reindex) ----------------------------------------------------------

    async def progress(self, name: str) -> tuple[str | None, bool, int]:
        """(cursor to resume from, finished, cases indexed so far) of a named backfill."""
        row = await self._db.fetchrow("SELECT cursor, done, indexed FROM similar_progress WHERE name = $1", name)
        return (row["cursor"], bool(row["done"]), int(row["indexed"])) if row else (None, False, 0)

    async def save_progress(self, name: str, cursor: str | None, done: bool, indexed: int) -> None:
        await self._db.execute(
            """INSERT INTO similar_progress (name, cursor, done, indexed, updated_at) VALUES ($1, $2, $3, $4, $5)
               ON CONFLICT (name) DO UPDATE SET cursor = excluded.cursor, done = excluded.done,
                   indexed = excluded.indexed, updated_at = excluded.updated_at""",
            name, cursor, int(done), indexed, _at(datetime.now(UTC)))
