"""Agent experience profiles pick people by name (issue 14): GET /api/people/search finds CRM users by part of their
name or email (Dataverse: contains() on systemusers), and a profile saved with them turns the feature off for them."""
from __future__ import annotations

import aiohttp
import pytest

from tests.admin_support import start_tab
from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.teams import ALEX, GROUP, MEGAN, PATTI

MEGAN_USER = "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"


async def test_local_directory_people_search_and_profile(sqlite_url: str, connector: FakeConnector,
                                                        http: aiohttp.ClientSession):
    async with FakeIdentity() as entra:
        tab, runner = await start_tab(sqlite_url, entra, connector, http)
        try:
            found = (await tab.get("/api/people/search?q=meg", PATTI)).body["people"]
            assert [(p["id"], p["name"]) for p in found] == [(MEGAN_USER, "Megan Bowen")]
            assert (await tab.get("/api/people/search?q=m", PATTI)).status == 400
            assert (await tab.get("/api/people/search?q=meg", ALEX)).status == 403
            settings, etag = await tab.settings(PATTI)
            settings.update(profiles={"Night shift": False}, profile_members={"Night shift": [found[0]["id"]]})
            assert (await tab.put_settings(PATTI, settings, etag)).status == 200
            page = await tab.get("/tabs/admin/form", PATTI)
            assert 'data-id="' + MEGAN_USER + '">Megan Bowen' in page.body  # shown by name, not id
            await tab.bot.say("connect case CAS-01001-K7R2M8", user=MEGAN)
            assert "turned off for your profile" in connector.texts(GROUP)[-1]
        finally:
            await runner.cleanup()


async def test_dataverse_people_search(monkeypatch: pytest.MonkeyPatch, sqlite_url: str, connector: FakeConnector,
                                       http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        found = (await env.tab.get("/api/people/search?q=BOWEN", env.aad(PATTI))).body["people"]
        assert [p["name"] for p in found] == ["Megan Bowen"]
        by_mail = (await env.tab.get("/api/people/search?q=lynne", env.aad(PATTI))).body["people"]
        assert [p["name"] for p in by_mail] == ["Lynne Robbins"]
        call = env.dv.calls("GET", "systemusers")[-1]
        assert "contains(fullname,'lynne')" in call.query["$filter"]
