"""The whole app running against the fake Dataverse (RECORD_SOURCE = the fake's URL, DATAVERSE_AUTH=none),
with Teams SSO from a fake Entra ID, so tests go through the bot and tab doors with Dataverse behind them.

The fake holds the demo directory with GUID ids; `aad(teams.ALEX)` gives the Entra object id the fake knows."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data
from tests.fake_identity import FakeIdentity


@dataclass
class DataverseApp:
    tab: Tab
    dv: FakeDataverse
    ids: dict[str, str]  # demo id -> the GUID the fake uses

    def aad(self, demo_aad: str) -> str:
        return self.ids.get(demo_aad, demo_aad)

    def rid(self, demo_id: str) -> str:
        return self.ids.get(demo_id, demo_id)


@asynccontextmanager
async def dataverse_app(monkeypatch: pytest.MonkeyPatch, database_url: str, connector: FakeConnector,
                        http: aiohttp.ClientSession, data: dict[str, Any] | None = None,
                        ids: dict[str, str] | None = None, prepare: Callable[[FakeDataverse], None] | None = None,
                        **overrides: Any) -> AsyncIterator[DataverseApp]:
    if data is None:
        data, ids = demo_data()
    async with FakeIdentity() as entra, FakeDataverse(data) as dv:
        if prepare:
            prepare(dv)
        tab, runner = await start_tab(database_url, entra, connector, http, record_source=dv.url,
                                     dataverse_auth="none", **overrides)
        try:
            yield DataverseApp(tab, dv, ids or {})
        finally:
            await runner.cleanup()
