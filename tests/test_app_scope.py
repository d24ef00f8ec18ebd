"""App scope (EN-02, issue 14): where Teams tells the bot which app an agent works in (a CRM record link's appid),
the "on for selected apps" setting applies; where it doesn't, the app set counts as a whole."""
from __future__ import annotations

import aiohttp
import pytest

from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_dataverse_seed import stable_guid
from tests.teams import ALEX, GROUP, PATTI

CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"


def link(app: str) -> str:
    return (f"https://contoso.crm.dynamics.com/main.aspx?appid={stable_guid('app:' + app)}"
            f"&pagetype=entityrecord&etn=incident&id={CASE_ID}")


async def test_a_record_link_brings_its_app(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                            connector: FakeConnector, http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        alex = env.aad(ALEX)
        await env.tab.bot.say(f"connect {link('Sales Hub')}", user=alex)
        assert "not turned on for the app 'Sales Hub'" in connector.texts(GROUP)[-1]
        await env.tab.bot.say(f"chats {link('Sales Hub')}", user=alex, conv="a:alex", conv_type="personal")
        assert "not turned on for the app 'Sales Hub'" in connector.texts("a:alex")[-1]

        await env.tab.bot.say(f"connect {link('Customer Service Hub')}", user=alex)
        assert "Connected to case" in str(connector.cards(GROUP))

        settings, etag = await env.tab.settings(env.aad(PATTI))
        settings["enabled_apps"] = []
        assert (await env.tab.put_settings(env.aad(PATTI), settings, etag)).status == 200
        await env.tab.bot.say("records", user=alex)  # no app known: the set counts, and it is empty now
        assert "not turned on for any app" in connector.texts(GROUP)[-1]
