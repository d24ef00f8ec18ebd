"""`python -m store migrate`: bring the database named by DATABASE_URL up to date (the service also does it on
start). Each step applied is listed with what it is for, e.g. the one that drops the per-person chat membership
earlier versions kept."""
from __future__ import annotations

import asyncio
import sys

from config import database_url
from store.db import open_database
from store.migrations import NOTES, migrate, version


async def _main(url: str) -> int:
    db = await open_database(url)
    try:
        before = await version(db)
        after = await migrate(db)
    finally:
        await db.close()
    for step in range(before + 1, after + 1):
        print(f"applied step {step}: {NOTES.get(step, 'schema change')}")
    print(f"schema at version {after} ({db.dialect})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["migrate"]:
        print("usage: python -m store migrate", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(_main(database_url())))
