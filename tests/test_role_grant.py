"""Who may disconnect any chat follows one rule, through the real doors: with the local directory the settings
page's role list is the only role grant (unticking revokes); with Dataverse the Disconnect Teams chat privilege
in security roles is the grant, and the page shows read-only which roles hold it. No OR of the two."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.teams import ALEX, GROUP, LYNNE, PATTI

CASE = "CAS-01001-K7R2M8"  # owned by Alex; Lynne (Omnichannel agent) neither owns it nor connects it


@pytest.fixture
async def tab(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    async with FakeIdentity() as entra:
        client, runner = await start_tab(sqlite_url, entra, connector, http)
        yield client
        await runner.cleanup()


async def untick(tab: Tab, role: str) -> None:
    settings, etag = await tab.settings(PATTI)
    settings["disconnect_roles"] = [r for r in settings["disconnect_roles"] if r != role]
    reply = await tab.put_settings(PATTI, settings, etag)
    assert reply.status == 200, reply.body


async def test_local_unticking_the_role_revokes_disconnect(tab: Tab, connector: FakeConnector):
    """The demo's Omnichannel agent can disconnect while the role is ticked, and not once the admin unticks it,
    although the directory still lists the privilege for that role."""
    grant = (await tab.get("/api/disconnect-grant", ALEX)).body
    assert grant["source"] == "settings" and grant["editable"] and "Omnichannel agent" in grant["roles"]
    await tab.bot.say(f"connect case {CASE}")
    await tab.bot.say(f"disconnect case {CASE}", user=LYNNE)
    assert "Disconnected from case" in str(connector.cards(GROUP)[-1])

    await tab.bot.say(f"connect case {CASE}")
    await untick(tab, "Omnichannel agent")
    await tab.bot.say(f"disconnect case {CASE}", user=LYNNE)
    assert "can't disconnect this chat" in connector.texts(GROUP)[-1]
    assert "Omnichannel agent" not in (await tab.get("/api/disconnect-grant", ALEX)).body["roles"]
    # The record view (tab door) says the same.
    view = (await tab.get(f"/api/records/case/{CASE}/connections", LYNNE)).body
    assert view["chats"][0]["can_disconnect"] is False


async def test_dataverse_privilege_is_the_grant(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                connector: FakeConnector, http: aiohttp.ClientSession):
    """With Dataverse the page's role list grants nothing: the privilege in security roles does, and the page
    lists the roles that hold it, read-only, with where to change it."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        tab, lynne, alex = env.tab, env.aad(LYNNE), env.aad(ALEX)
        env.dv.revoke_privilege("Omnichannel agent", "prvDisconnectTeamsChat")
        grant = (await tab.get("/api/disconnect-grant", env.aad(PATTI))).body
        assert grant["source"] == "crm" and grant["editable"] is False
        assert "Omnichannel agent" not in grant["roles"] and "CSR Manager" in grant["roles"]
        assert "Power Platform admin center" in grant["how"]
        settings, _ = await tab.settings(env.aad(PATTI))
        assert "Omnichannel agent" in settings["disconnect_roles"]  # ticked on the page, but not an OR

        await tab.bot.say(f"connect case {CASE}", user=alex)
        await tab.bot.say(f"disconnect case {CASE}", user=lynne)
        assert "can't disconnect this chat" in connector.texts(GROUP)[-1]

        page = await tab.get("/tabs/admin/form", env.aad(PATTI))
        assert 'id="disconnect-grant"' in page.body and "data-role" not in page.body
        assert "CSR Manager" in page.body
