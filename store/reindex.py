"""Load resolved cases into the similarity index: at start for the local directory, and as
`python -m store.reindex` for Dataverse history (pages followed by @odata.nextLink, a progress bar, resumable:
the cursor of the last finished page is saved, so a stopped run continues where it was).

    python -m store.reindex [--type incident] [--restart]
--type: any record type with AI-suggested contacts on (Dataverse: cases by their resolution activity, other
tables by having left the Active state). Environment: DATABASE_URL and RECORD_SOURCE, as for the service."""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable

from domain.ports import ResolvedCaseSource
from domain.settings import RecordTypeSettings
from store.similar import SqlSimilarCases

Progress = Callable[[int, bool], None]


async def backfill(source: ResolvedCaseSource, index: SqlSimilarCases, record_type: str,
                   rts: RecordTypeSettings, restart: bool = False, progress: Progress | None = None) -> int:
    """Index every resolved record of the type; return how many were indexed in total (this run and before)."""
    name = f"{record_type}:{','.join(rts.similar_fields)}"
    cursor, done, indexed = await index.progress(name)
    if restart or done:
        cursor, indexed = None, 0
    while True:
        cases, cursor = await source.resolved_cases(record_type, rts.similar_fields, cursor)
        for case in cases:
            await index.upsert(case)
        indexed += len(cases)
        # Saved after the page is in: a crash repeats at most one page, and upserts make that harmless.
        await index.save_progress(name, cursor, cursor is None, indexed)
        if progress:
            progress(indexed, cursor is None)
        if cursor is None:
            await index.refresh_terms(record_type)
            await index.optimize()
            return indexed


class Bar:
    """A one-line progress bar on stderr (the total is unknown while paging, so it counts and shows the rate)."""

    def __init__(self, label: str) -> None:
        self.label, self.start = label, time.monotonic()

    def __call__(self, indexed: int, finished: bool) -> None:
        rate = indexed / max(time.monotonic() - self.start, 1e-6)
        spin = "#" * (indexed // 1000 % 30)
        end = "\n" if finished else "\r"
        print(f"{self.label} [{spin:<30}] {indexed} cases, {rate:,.0f}/s{' done' if finished else ''}",
              end=end, file=sys.stderr, flush=True)


async def _main(args: argparse.Namespace) -> int:
    from config import Config
    from records import SourceConfigError, open_source
    from records.directory_file import DirectoryError
    from store.db import open_database
    from store.migrations import migrate
    from store.settings_store import SqlSettingsStore

    config = Config.from_env()
    try:
        source = open_source(config.record_source, config.public_url, config.dataverse_auth,
                             config.dataverse_record_types)
    except (SourceConfigError, DirectoryError) as exc:
        print(f"reindex: {exc}", file=sys.stderr)
        return 2
    if not hasattr(source, "resolved_cases"):
        print("reindex: this record source cannot list resolved cases", file=sys.stderr)
        return 2
    db = await open_database(config.database_url)
    try:
        await migrate(db)
        settings, _ = await SqlSettingsStore(db).load()
        rts = settings.record_types.get(args.type)
        if rts is None or not rts.similar_contacts:
            print(f"reindex: AI-suggested contacts are off for {args.type!r} in the settings", file=sys.stderr)
            return 2
        total = await backfill(source, SqlSimilarCases(db), args.type, rts, args.restart,  # type: ignore[arg-type]
                               Bar(f"reindex {args.type}"))
        print(f"{total} resolved {args.type} records indexed")
        return 0
    finally:
        if close := getattr(source, "close", None):
            await close()
        await db.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m store.reindex", description=__doc__.split("\n")[0])
    parser.add_argument("--type", default="incident", help="record type logical name (default incident)")
    parser.add_argument("--restart", action="store_true", help="start from the first page, not the saved cursor")
    sys.exit(asyncio.run(_main(parser.parse_args())))
