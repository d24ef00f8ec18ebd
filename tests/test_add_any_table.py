"""Admins add any table (issue 14): with Dataverse, "Add record type" searches the org's tables (EntityDefinitions,
display and logical names, only tables with a primary name) and a found table can be configured and used without
DATAVERSE_RECORD_TYPES. Through the tab API and the bot against the fake Dataverse."""
from __future__ import annotations

import aiohttp
import pytest

from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.teams import ALEX, GROUP, ISAIAH, PATTI


async def test_search_add_and_use_a_table_not_offered(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                     connector: FakeConnector, http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        tab, admin = env.tab, env.aad(PATTI)
        offered = {t["logical_name"] for t in (await tab.get("/api/record-types", admin)).body["record_types"]}
        assert "msdyn_workorder" not in offered  # not in DATAVERSE_RECORD_TYPES

        found = (await tab.get("/api/record-types/search?q=work", admin)).body["tables"]
        assert {"logical_name": "msdyn_workorder", "display_name": "Work Order"} in found
        by_logical = (await tab.get("/api/record-types/search?q=msdyn_work", admin)).body["tables"]
        assert [t["logical_name"] for t in by_logical] == ["msdyn_workorder"]
        no_name = (await tab.get("/api/record-types/search?q=sdkmessagefilter", admin)).body["tables"]
        assert no_name == []  # no primary name: cannot be a record type
        assert (await tab.get("/api/record-types/search?q=w", admin)).status == 400
        assert (await tab.get("/api/record-types/search?q=work", env.aad(ALEX))).status == 403

        fragment = await tab.get("/tabs/admin/type?type=msdyn_workorder", admin)
        assert fragment.status == 200 and "Work Order" in fragment.body
        settings, etag = await tab.settings(admin)
        settings["record_types"]["msdyn_workorder"] = {"enabled": True}
        reply = await tab.put_settings(admin, settings, etag)
        assert reply.status == 200, reply.body
        types = {t["logical_name"]: t for t in (await tab.get("/api/record-types", admin)).body["record_types"]}
        assert types["msdyn_workorder"]["configured"] is True
        assert "Work Order" in (await tab.get("/tabs/admin/form", admin)).body

        await tab.bot.say("connect work order WO-00042", user=env.aad(ISAIAH))
        assert "Connected to work order" in str(connector.cards(GROUP))
