"""EN-03 with the org's own agent experience profiles (issue: profiles from Dataverse). The settings API lists the
org's app profiles (msdyn_appconfigurations, paged by @odata.nextLink) and saves Teams chats on/off per profile id;
the bot then refuses or allows each agent by the profiles Dataverse says they are assigned to now (N:N
msdyn_appconfiguration_systemuser), re-read after DATAVERSE_PROFILES_TTL. Against the fake Dataverse."""
from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from tests.admin_support import start_tab
from tests.dataverse_app import DataverseApp, dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_identity import FakeIdentity
from tests.teams import ALEX, GROUP, LYNNE, MEGAN, PATTI

ALEX_USER = "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21"
MEGAN_USER = "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
TTL = 1.5
OFF = "turned off for your profile"


def org(dv: FakeDataverse) -> None:
    night, day = dv.profiles.add("Night shift"), dv.profiles.add("Day shift")
    dv.profiles.add("Supervisors")
    dv.profiles.deactivate(dv.profiles.add("Retired profile"))
    dv.profiles.assign(night, MEGAN_USER)
    dv.profiles.assign(day, ALEX_USER)
    dv.page_limit["msdyn_appconfiguration"] = 2  # the list comes in two pages


def ids(env: DataverseApp) -> dict[str, str]:
    return {r["msdyn_name"]: r["msdyn_appconfigurationid"] for r in env.dv.rows("msdyn_appconfiguration")}


async def reply_to(env: DataverseApp, connector: FakeConnector, user: str) -> str:
    """The bot's answer (its text, or its card as JSON) to `records` in the group chat."""
    before = len(connector.by_conversation[GROUP])
    await env.tab.bot.say("records", user=env.aad(user))
    sent = connector.by_conversation[GROUP][before:]
    assert sent, "the bot did not answer"
    return json.dumps(sent)


async def choose(env: DataverseApp, choices: dict[str, bool], source: str = "org") -> Any:
    settings, etag = await env.tab.settings(env.aad(PATTI))
    settings.update(profile_source=source, org_profiles=choices)
    return await env.tab.put_settings(env.aad(PATTI), settings, etag)


async def test_org_profiles_listed_chosen_and_followed_live(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                          connector: FakeConnector, http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org,
                             dataverse_profiles_ttl=TTL) as env:
        listed = (await env.tab.get("/api/org-profiles", env.aad(ALEX))).body  # any CRM user may read settings
        assert listed["available"] is True and listed["source"] == "page" and listed["error"] == ""
        assert [(p["name"], p["enabled"], p["chosen"]) for p in listed["profiles"]] == [
            ("Day shift", True, False), ("Night shift", True, False), ("Supervisors", True, False)]  # not Retired
        pages = env.dv.calls("GET", "msdyn_appconfigurations")
        assert len(pages) == 2 and pages[0].query["$filter"] == "statecode eq 0"  # followed the nextLink

        night, day = ids(env)["Night shift"], ids(env)["Day shift"]
        saved = await choose(env, {night: False, day: True})
        assert saved.status == 200, saved.body
        assert saved.body["profile_source"] == "org" and saved.body["org_profiles"] == {night: False, day: True}
        listed = (await env.tab.get("/api/org-profiles", env.aad(PATTI))).body
        assert {p["name"]: (p["enabled"], p["chosen"]) for p in listed["profiles"]} == {
            "Day shift": (True, True), "Night shift": (False, True), "Supervisors": (True, False)}

        assert OFF in await reply_to(env, connector, MEGAN)       # Night shift: off
        assert OFF not in await reply_to(env, connector, ALEX)    # Day shift: on
        assert OFF not in await reply_to(env, connector, LYNNE)   # no profile: the default follows the switch
        read = env.dv.calls("GET", f"systemusers({MEGAN_USER})/msdyn_appconfiguration_systemuser")[-1]
        assert read.query == {"$select": "msdyn_appconfigurationid", "$filter": "statecode eq 0"}

        # Moved to Day shift in the Customer Service admin center: read again once the short cache expires.
        env.dv.profiles.unassign(night, MEGAN_USER)
        env.dv.profiles.assign(day, MEGAN_USER)
        assert OFF in await reply_to(env, connector, MEGAN)       # still the cached assignment
        await asyncio.sleep(TTL + 0.2)
        assert OFF not in await reply_to(env, connector, MEGAN)
        # ...and back into Night shift as well: one profile with Teams chats on is enough.
        env.dv.profiles.assign(night, MEGAN_USER)
        env.dv.profiles.unassign(day, ALEX_USER)
        env.dv.profiles.assign(night, ALEX_USER)
        await asyncio.sleep(TTL + 0.2)
        assert OFF not in await reply_to(env, connector, MEGAN)
        assert OFF in await reply_to(env, connector, ALEX)

        # The page's own profiles again: the org's assignments no longer matter.
        assert (await choose(env, {night: False, day: True}, source="page")).status == 200
        assert OFF not in await reply_to(env, connector, ALEX)


async def test_no_profile_turned_off_reads_no_assignment(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                        connector: FakeConnector, http: aiohttp.ClientSession):
    """With every chosen profile on, nobody's assignment can change the answer, so none is read."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org) as env:
        assert (await choose(env, {ids(env)["Night shift"]: True})).status == 200
        assert OFF not in await reply_to(env, connector, MEGAN)
        assert env.dv.calls("GET", f"systemusers({MEGAN_USER})/") == []


async def test_bad_choices_get_400_and_nothing_is_saved(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                       connector: FakeConnector, http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org) as env:
        retired = ids(env)["Retired profile"]
        bad = [({"profile_source": "crm"}, "profile_source"),
               ({"org_profiles": {"night": False}}, "org_profiles.night"),
               ({"org_profiles": {ids(env)["Night shift"]: "no"}}, "org_profiles"),
               ({"org_profiles": {retired: False}}, f"org_profiles.{retired}"),  # inactive: not listed
               ({"org_profiles": {"5d1f2c3a-0000-4000-8000-000000000000": False}},
                "org_profiles.5d1f2c3a-0000-4000-8000-000000000000")]
        for change, field in bad:
            settings, etag = await env.tab.settings(env.aad(PATTI))
            reply = await env.tab.put_settings(env.aad(PATTI), {**settings, **change}, etag)
            assert (reply.status, reply.body.get("field")) == (400, field), (change, reply.body)
        settings, _ = await env.tab.settings(env.aad(PATTI))
        assert settings["profile_source"] == "page" and settings["org_profiles"] == {}


async def test_dataverse_refusing_profiles_never_500s(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                     connector: FakeConnector, http: aiohttp.ClientSession):
    """The application user without read on App profile: the page opens and says why; a save still goes through
    with the saved choices; an agent whose profile cannot be read is told so, not that it is off."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=org,
                             dataverse_profiles_ttl=0.0) as env:
        night = ids(env)["Night shift"]
        assert (await choose(env, {night: False})).status == 200
        assert OFF not in await reply_to(env, connector, ALEX)  # Alex is looked up (and cached) once

        env.dv.forbid("GET", "msdyn_appconfigurations")
        listed = await env.tab.get("/api/org-profiles", env.aad(PATTI))
        assert listed.status == 200 and listed.body["profiles"] == [] and listed.body["missing"] == []
        assert "could not be read from Dataverse" in listed.body["error"] and "403" in listed.body["error"]
        env.dv.forbid("GET", "msdyn_appconfigurations")
        assert (await env.tab.get("/tabs/admin/form", env.aad(PATTI))).status == 200

        env.dv.forbid("GET", "msdyn_appconfigurations")
        settings, etag = await env.tab.settings(env.aad(PATTI))
        saved = await env.tab.put_settings(env.aad(PATTI), {**settings, "timeline_sync": False}, etag)
        assert saved.status == 200 and saved.body["org_profiles"] == {night: False}

        env.dv.forbid("GET", "systemusers")
        text = await reply_to(env, connector, ALEX)
        assert "couldn't read your agent experience profile" in text and OFF not in text


async def test_local_directory_has_no_org_profiles(sqlite_url: str, connector: FakeConnector,
                                                  http: aiohttp.ClientSession):
    async with FakeIdentity() as entra:
        tab, runner = await start_tab(sqlite_url, entra, connector, http)
        try:
            listed = (await tab.get("/api/org-profiles", PATTI)).body
            assert listed["available"] is False and listed["profiles"] == []
            settings, etag = await tab.settings(PATTI)
            reply = await tab.put_settings(PATTI, {**settings, "profile_source": "org"}, etag)
            assert (reply.status, reply.body["field"]) == (400, "profile_source")
            assert "no agent experience profiles" in reply.body["error"]
        finally:
            await runner.cleanup()
