"""`python -m store migrate`: bring the database named by DATABASE_URL up to date."""
from __future__ import annotations

import asyncio
import sys

from config import database_url
from store.db import open_database
from store.migrations import migrate


async def _main(url: str) -> int:
    db = await open_database(url)
    try:
        version = await migrate(db)
    finally:
        await db.close()
    print(f"schema at version {version} ({db.dialect})")
    return 0


if __name__ == "__main__":
    if sys.argv[1:] != ["migrate"]:
        print("usage: python -m store migrate", file=sys.stderr)
        sys.exit(2)
    sys.exit(asyncio.run(_main(database_url())))
