"""The similar-cases backfill from Dataverse: incidentresolutions paged by @odata.nextLink (server-driven paging),
cases read in batches, progress saved per page so a stopped run resumes; and `python -m store.reindex` itself."""
from __future__ import annotations

import asyncio
import copy
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.settings import CASE_DEFAULTS
from records.dataverse import DataverseRecordSource
from records.dataverse_http import DataverseError
from store.db import open_database
from store.migrations import migrate
from store.reindex import backfill
from store.similar import SqlSimilarCases
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data

ROOT = Path(__file__).resolve().parent.parent
ISAIAH = "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"
EXTRA = 1100  # more resolved cases than two pages of 500


def many_resolved() -> dict:
    data = copy.deepcopy(demo_data()[0])
    template = next(r for r in data["records"]["incident"] if r.get("resolvedby"))
    for i in range(EXTRA):
        data["records"]["incident"].append(dict(template, id=f"7d000000-0000-4000-8000-{i:012d}",
                                                ticketnumber=f"CAS-8{i:04d}-BULK", title=f"Scanner fault {i}"))
    return data


@pytest.fixture
async def fake() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(many_resolved()) as dv:
        yield dv


async def test_backfill_pages_by_next_link_and_resumes_after_a_failure(fake: FakeDataverse, sqlite_url: str):
    db = await open_database(sqlite_url)
    await migrate(db)
    index = SqlSimilarCases(db)
    source = DataverseRecordSource(fake.url, None, ("incident",))
    seen: list[int] = []

    def fail_after_first_page(indexed: int, finished: bool) -> None:
        seen.append(indexed)
        if len(seen) == 1:
            fake.fail(10, 503)  # Dataverse goes away for longer than the client's retries

    try:
        with pytest.raises(DataverseError):
            await backfill(source, index, "incident", CASE_DEFAULTS, progress=fail_after_first_page)
        assert seen == [500] and await index.count("incident") == 500
        fake.fail(0, 503)
        total = await backfill(source, index, "incident", CASE_DEFAULTS)
        pages = [r for r in fake.calls("GET", "incidentresolutions")]
        assert [r.query.get("$skiptoken") for r in pages if r.query.get("$skiptoken") == "500"]  # resumed there
        assert sum(1 for r in pages if "$skiptoken" not in r.query) == 1  # the first page was not read again
        assert total == EXTRA + 8 and await index.count("incident") == EXTRA + 8
        by, at = await index.resolution("incident", "7d000000-0000-4000-8000-000000001099") or ("", None)
        assert by == ISAIAH and at is not None and at.isoformat().startswith("2026-11-12T16:00")
        again = await backfill(source, index, "incident", CASE_DEFAULTS)  # a finished backfill starts over
        assert again == EXTRA + 8 and await index.count("incident") == EXTRA + 8
    finally:
        await source.close()
        await db.close()


async def test_reindex_command_with_progress(fake: FakeDataverse, tmp_path: Path):
    env = {**os.environ, "RECORD_SOURCE": fake.url, "DATAVERSE_AUTH": "none",
           "DATABASE_URL": f"sqlite:///{tmp_path}/cc.db"}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "store.reindex", cwd=ROOT, env=env,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert f"{EXTRA + 8} resolved incident records indexed" in out.decode()
    assert "reindex incident [" in err.decode() and " done" in err.decode()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "store.reindex", "--type", "account",
                                                cwd=ROOT, env=env, stderr=asyncio.subprocess.PIPE)
    _, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 2 and "off for 'account'" in err.decode()
