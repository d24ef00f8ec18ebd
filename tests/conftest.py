"""Shared fixtures: a real app on a free port, a fake Bot Connector, SQLite and PostgreSQL databases."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from app import create_app
from bench.seed import create_pg_database, drop_pg_database
from config import Config
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.servers import serve
from tests.teams import Bot

PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
DEMO = Path(__file__).resolve().parent.parent / "records" / "demo-directory.json"


@pytest.fixture
async def connector() -> AsyncIterator[FakeConnector]:
    fake = await FakeConnector().start()
    yield fake
    await fake.stop()


async def _fresh_pg_database() -> str:
    """A new, empty PostgreSQL database for one test. Fails (never skips) when the server is unreachable."""
    return await create_pg_database(PG_ADMIN_URL, prefix="cc")


async def _drop_pg_database(url: str) -> None:
    await drop_pg_database(PG_ADMIN_URL, url)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/test.db"
        return
    url = await _fresh_pg_database()
    yield url
    await _drop_pg_database(url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/test.db"


class Running:
    """A running app plus a client for it."""

    def __init__(self, app: web.Application, runner: web.AppRunner, url: str, bot: Bot) -> None:
        self.app, self.runner, self.url, self.bot = app, runner, url, bot


async def start_app(config: Config) -> tuple[web.Application, web.AppRunner, str]:
    app = create_app(config)
    runner, url = await serve(app)
    return app, runner, url


def test_config(database_url: str, **overrides: Any) -> Config:
    base = Config(database_url=database_url, record_source=f"local:{DEMO}", public_url="https://cc.example",
                  graph_auth="none")
    return replace(base, **overrides)


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


@pytest.fixture
async def identity() -> AsyncIterator[FakeIdentity]:
    """A fake Bot Framework / Entra ID OpenID provider."""
    fake = await FakeIdentity().start()
    yield fake
    await fake.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@asynccontextmanager
async def serving(database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
                  ) -> AsyncIterator[Running]:
    """The app on a database, with a bot client talking to it; stopped on leaving."""
    app, runner, url = await start_app(test_config(database_url))
    try:
        yield Running(app, runner, url, Bot(url, connector.url, http))
    finally:
        await runner.cleanup()


@pytest.fixture
async def running(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Running]:
    async with serving(sqlite_url, connector, http) as app:
        yield app


@pytest.fixture
async def running_any_db(database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
                         ) -> AsyncIterator[Running]:
    async with serving(database_url, connector, http) as app:
        yield app


_TOOLS = ("chromium", "node", "npm", "wrk", "playwright")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    """In CI (REQUIRE_BROWSER=1, set by .ci/run) a test skipped for a missing tool fails instead: CI installs them."""
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("REQUIRE_BROWSER") == "1":
        reason = str(report.longrepr[-1] if isinstance(report.longrepr, tuple) else report.longrepr).lower()
        if any(tool in reason for tool in _TOOLS):
            report.outcome = "failed"
            report.longrepr = f"skipped in CI, where {', '.join(_TOOLS)} must be installed: {reason}"
