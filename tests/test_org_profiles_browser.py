"""The settings page with the org's agent experience profiles, in headless Chromium against the fake Dataverse:
the admin switches the profile source to the org's profiles, turns Teams chats off for one, saves, and the bot
follows it for the agent Dataverse assigns to that profile."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.teams import MEGAN, PATTI
from tests.test_admin_browser import browser, open_as, pytestmark  # noqa: F401  (fixture and browser marks)
from tests.test_org_profiles import OFF, choose, ids, org, reply_to


async def test_admin_turns_teams_chats_off_for_an_org_profile(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                             connector: FakeConnector, http: aiohttp.ClientSession,
                                                             browser: Any):  # noqa: F811
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org) as env:
        page = await open_as(browser, env.tab, env.aad(PATTI))
        await expect(page.locator("#profile_source-page")).to_be_checked()
        await expect(page.locator("#org-profiles")).to_be_hidden()
        await page.check("#profile_source-org")
        await expect(page.locator("#page-profiles")).to_be_hidden()
        await expect(page.locator("#org-profiles tbody tr td:first-child")).to_have_count(3)  # active ones only
        await page.get_by_label("Teams chats for Night shift").uncheck()
        await page.click("#save")
        await expect(page.locator("#save-status")).to_contain_text("Saved")
        settings, _ = await env.tab.settings(env.aad(PATTI))
        named = ids(env)
        assert settings["profile_source"] == "org"
        assert settings["org_profiles"] == {named["Night shift"]: False, named["Day shift"]: True,
                                            named["Supervisors"]: True}
        assert OFF in await reply_to(env, connector, MEGAN)

        # Reopened: the saved source and switches are shown; switching back keeps the org choices stored.
        page = await open_as(browser, env.tab, env.aad(PATTI))
        await expect(page.locator("#profile_source-org")).to_be_checked()
        await expect(page.get_by_label("Teams chats for Night shift")).not_to_be_checked()
        assert page.errors == []


async def test_page_says_why_when_dataverse_refuses_profiles(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                            connector: FakeConnector, http: aiohttp.ClientSession,
                                                            browser: Any):  # noqa: F811
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org,
                             dataverse_profiles_ttl=0.0) as env:
        night = ids(env)["Night shift"]
        assert (await choose(env, {night: False})).status == 200
        env.dv.forbid("GET", "msdyn_appconfigurations", count=5)
        page = await open_as(browser, env.tab, env.aad(PATTI))
        await expect(page.locator("#org-profiles .error")).to_contain_text("could not be read from Dataverse")
        await page.click("#save")
        await expect(page.locator("#save-status")).to_contain_text("Saved")
        settings, _ = await env.tab.settings(env.aad(PATTI))
        assert settings["org_profiles"] == {night: False}  # kept as saved
        assert page.errors == []
