"""The settings API behind the admin tab, through real HTTP: Teams SSO tokens checked against a fake Entra ID,
who may read and write, validation of every rule, ETag / If-Match, and edits reaching the bot at once."""
from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.fake_connector import FakeConnector
from tests.fake_identity import APP_ID_URI, GLOBAL_ADMIN, OTHER_TENANT, STRANGER, FakeIdentity
from tests.teams import ALEX, GROUP, ISAIAH, PATTI

CASE = "CAS-01001-K7R2M8"


@pytest.fixture
async def entra() -> AsyncIterator[FakeIdentity]:
    async with FakeIdentity() as fake:
        yield fake


@pytest.fixture
async def tab(sqlite_url: str, entra: FakeIdentity, connector: FakeConnector,
              http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    client, runner = await start_tab(sqlite_url, entra, connector, http)
    yield client
    await runner.cleanup()


@pytest.fixture
async def tab_any_db(database_url: str, entra: FakeIdentity, connector: FakeConnector,
                     http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    client, runner = await start_tab(database_url, entra, connector, http)
    yield client
    await runner.cleanup()


# -- sign-in ---------------------------------------------------------------------------------------------

async def test_agent_with_valid_token_reads_settings(tab: Tab):
    """A valid SSO token of a CRM agent reads the settings (with an ETag) but is not an admin."""
    reply = await tab.get("/api/settings", ALEX)
    assert reply.status == 200 and reply.etag.startswith('"')
    assert reply.body["record_types"]["incident"]["join_chat"] is True
    me = (await tab.get("/api/me", ALEX)).body
    assert me["name"] == "Alex Wilber" and me["admin"] is False and me["can_edit"] is False


@pytest.mark.parametrize("case", ["none", "garbage", "expired", "audience", "tenant", "issuer", "rogue"])
async def test_bad_tokens_get_401(tab: Tab, case: str):
    """No token, a malformed, expired, wrong-audience, other-tenant, mismatched-issuer or forged token: 401."""
    headers = {"none": {}, "garbage": {"Authorization": "Bearer not.a.jwt"}}.get(case)
    claims: dict[str, Any] = {"expired": {"exp": -600}, "audience": {"aud": "api://cc.example/someone-else"},
                              "tenant": {"tid": OTHER_TENANT}, "rogue": {"rogue": True},
                              "issuer": {"iss": f"https://login.microsoftonline.com/{OTHER_TENANT}/v2.0"}
                              }.get(case, {})
    if headers is not None:
        reply = await tab.get("/api/settings", headers=headers)
    else:
        reply = await tab.get("/api/settings", PATTI, **claims)
    assert reply.status == 401, reply.body
    assert reply.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "error" in reply.body


async def test_v1_token_with_app_id_uri_is_accepted(tab: Tab):
    """Teams may hand out v1.0 tokens: App ID URI audience, sts.windows.net issuer; both are accepted."""
    reply = await tab.get("/api/me", PATTI, aud=APP_ID_URI, version="1.0")
    assert reply.status == 200 and reply.body["admin"] is True


async def test_unknown_user_is_403(tab: Tab):
    """A valid token of an Entra user the CRM does not know (and no admin role) gets 403."""
    reply = await tab.get("/api/settings", STRANGER)
    assert reply.status == 403 and "not a user of the CRM" in reply.body["error"]


async def test_agent_cannot_write_settings(tab: Tab):
    """Only admins write: an agent's PUT is 403 and nothing changes."""
    body, etag = await tab.settings(ALEX)
    body["teams_chat_enabled"] = False
    reply = await tab.put_settings(ALEX, body, etag)
    assert reply.status == 403
    assert (await tab.settings(ALEX))[0]["teams_chat_enabled"] is True


async def test_system_administrator_writes_settings(tab_any_db: Tab):
    """Patti (System Administrator in the CRM directory) saves; the answer has the new ETag and body."""
    body, etag = await tab_any_db.settings(PATTI)
    body["record_types"]["account"]["join_chat"] = True
    reply = await tab_any_db.put_settings(PATTI, body, etag)
    assert reply.status == 200, reply.body
    assert reply.etag and reply.etag != etag
    again, new_etag = await tab_any_db.settings(ALEX)
    assert again["record_types"]["account"]["join_chat"] is True and new_etag == reply.etag


async def test_global_admin_via_wids_writes_settings(tab: Tab):
    """An Entra global administrator (wids) unknown to the CRM may still change settings, timeline sync too."""
    body, etag = await tab.settings(PATTI)
    body["timeline_sync"] = True
    reply = await tab.put_settings(STRANGER, body, etag, wids=[GLOBAL_ADMIN])
    assert reply.status == 200, reply.body
    assert (await tab.settings(PATTI))[0]["timeline_sync"] is True


async def test_timeline_sync_needs_global_admin(tab: Tab):
    """SYNC-01: a System Administrator who is not an Entra global admin cannot turn timeline sync on."""
    body, etag = await tab.settings(PATTI)
    body["timeline_sync"] = True
    body["record_types"]["account"]["join_chat"] = True
    reply = await tab.put_settings(PATTI, body, etag, wids=["some-other-role"])
    assert reply.status == 403 and reply.body["field"] == "timeline_sync"
    after, after_etag = await tab.settings(PATTI)
    assert after["timeline_sync"] is False and after["record_types"]["account"]["join_chat"] is False
    assert after_etag == etag


# -- validation ------------------------------------------------------------------------------------------

def _lookup_rules(n: int) -> list[dict[str, Any]]:
    return [{"name": f"Rule {i}", "kind": "owner", "path": []} for i in range(n)]


INVALID = {
    "six attributes": (lambda s: s["record_types"]["incident"].update(
        watched=["prioritycode", "statecode", "statuscode", "caseorigincode", "title", "customerid"]),
        "record_types.incident.watched", "at most 5"),
    "integer attribute": (lambda s: s["record_types"]["incident"].update(watched=["numberofchildincidents"]),
                          "record_types.incident.watched", "Integer"),
    "image attribute": (lambda s: s["record_types"]["account"].update(notify=True, watched=["entityimage"]),
                        "record_types.account.watched", "Image"),
    "unknown attribute": (lambda s: s["record_types"]["incident"].update(watched=["shoesize"]),
                          "record_types.incident.watched", "no attribute"),
    "unknown view": (lambda s: s["record_types"]["incident"].update(view="Cases by moon phase"),
                     "record_types.incident.view", "no view"),
    "unknown record type": (lambda s: s["record_types"].update(spaceship={"enabled": True}),
                            "record_types.spaceship", "unknown record type"),
    "eleven rules": (lambda s: s["record_types"]["incident"].update(contact_rules=_lookup_rules(11)),
                     "record_types.incident.contact_rules", "at most 10"),
    "bad rule kind": (lambda s: s["record_types"]["incident"].update(
        contact_rules=[{"name": "Boss", "kind": "boss", "path": []}]),
        "record_types.incident.contact_rules[0].kind", "not one of"),
    "eleven-step chain": (lambda s: s["record_types"]["incident"].update(
        contact_rules=[{"name": "Far", "kind": "lookup", "path": ["customerid"] * 11}]),
        "record_types.incident.contact_rules[0].path", "at most 10 steps"),
    "chain not ending at a user": (lambda s: s["record_types"].update(msdyn_workorder={
        "contact_rules": [{"name": "Case", "kind": "lookup", "path": ["msdyn_servicerequest"]}]}),
        "record_types.msdyn_workorder.contact_rules[0].path", "must point at a user"),
    "text for a toggle": (lambda s: s["record_types"]["incident"].update(join_chat="yes"),
                          "record_types.incident.join_chat", "true or false"),
    "selected app not listed": (lambda s: s.update(enabled_apps=["Nowhere"]), "enabled_apps", "known_apps"),
    "notify without attributes": (lambda s: s["record_types"]["contact"].update(notify=True, watched=[]),
                                  "record_types.contact.watched", "at least one"),
}


@pytest.mark.parametrize("name", list(INVALID))
async def test_invalid_settings_get_400_naming_the_field_and_nothing_is_saved(tab: Tab, name: str):
    """Each rule: 400 with the field named, and none of the request's other (valid) changes is saved."""
    change, field, words = INVALID[name]
    body, etag = await tab.settings(PATTI)
    bad = copy.deepcopy(body)
    bad["record_types"]["email"]["join_chat"] = True  # a valid change riding along
    change(bad)
    reply = await tab.put_settings(PATTI, bad, etag)
    assert reply.status == 400, reply.body
    assert reply.body["field"] == field and words.lower() in reply.body["error"].lower(), reply.body
    assert await tab.settings(PATTI) == (body, etag)


async def test_malformed_bodies_are_400(tab: Tab):
    """Not JSON, or JSON that is not an object: 400, never 500."""
    _, etag = await tab.settings(PATTI)
    for raw in ("{not json", "[1, 2]", '"text"'):
        reply = await tab.call("PUT", "/api/settings", PATTI, body=raw, headers={"If-Match": etag})
        assert reply.status == 400, (raw, reply.body)


async def test_work_order_added_with_watched_attributes(tab: Tab):
    """"Add record type": any type the source knows can be configured, with supported attributes watched."""
    body, etag = await tab.settings(PATTI)
    body["record_types"]["msdyn_workorder"] = {"enabled": True, "notify": True,
                                               "watched": ["msdyn_priority", "msdyn_systemstatus"],
                                               "contact_rules": [{"name": "Case owner", "kind": "lookup",
                                                                  "path": ["msdyn_servicerequest", "ownerid"]}]}
    reply = await tab.put_settings(PATTI, body, etag)
    assert reply.status == 200, reply.body
    saved = reply.body["record_types"]["msdyn_workorder"]
    assert saved["watched"] == ["msdyn_priority", "msdyn_systemstatus"]
    assert saved["contact_rules"][0]["path"] == ["msdyn_servicerequest", "ownerid"]


# -- concurrency -----------------------------------------------------------------------------------------

async def test_stale_etag_gets_412_and_does_not_overwrite(tab_any_db: Tab):
    """Two admins load; the first saves; the second's save with the old ETag is 412 and changes nothing."""
    first, etag = await tab_any_db.settings(PATTI)
    second = copy.deepcopy(first)
    first["record_types"]["account"]["join_chat"] = True
    assert (await tab_any_db.put_settings(PATTI, first, etag)).status == 200
    second["record_types"]["contact"]["join_chat"] = True
    reply = await tab_any_db.put_settings(STRANGER, second, etag, wids=[GLOBAL_ADMIN])
    assert reply.status == 412 and reply.etag
    now, _ = await tab_any_db.settings(PATTI)
    assert now["record_types"]["account"]["join_chat"] is True
    assert now["record_types"]["contact"]["join_chat"] is False


async def test_missing_if_match_is_428_and_star_is_unconditional(tab: Tab):
    """A PUT without If-Match is refused (428) rather than taken as "overwrite"; If-Match: * overwrites."""
    body, _ = await tab.settings(PATTI)
    body["record_types"]["account"]["join_chat"] = True
    assert (await tab.put_settings(PATTI, body, None)).status == 428
    assert (await tab.put_settings(PATTI, body, "*")).status == 200


# -- effect on the bot -----------------------------------------------------------------------------------

async def test_disabling_case_type_refuses_connect_in_bot_at_once(tab_any_db: Tab, connector: FakeConnector):
    """A settings edit takes effect in the bot immediately: with case turned off, `connect case` is refused."""
    body, etag = await tab_any_db.settings(PATTI)
    body["record_types"]["incident"]["enabled"] = False
    assert (await tab_any_db.put_settings(PATTI, body, etag)).status == 200
    await tab_any_db.bot.say(f"connect case {CASE}")
    assert "hasn't turned that record type on" in connector.texts(GROUP)[-1]


async def test_master_switch_off_reaches_bot(tab: Tab, connector: FakeConnector):
    """EN-01: turning Teams chats off in the tab makes the bot say an administrator turned it off."""
    body, etag = await tab.settings(PATTI)
    body["teams_chat_enabled"] = False
    assert (await tab.put_settings(PATTI, body, etag)).status == 200
    await tab.bot.say(f"connect case {CASE}", user=ISAIAH)
    assert "turned off by your administrator" in connector.texts(GROUP)[-1]


async def test_record_types_api_marks_support(tab: Tab):
    """GET /api/record-types: attributes carry card/watch support, views their first five columns marked."""
    types = {t["logical_name"]: t for t in (await tab.get("/api/record-types", ALEX)).body["record_types"]}
    assert types["msdyn_workorder"]["configured"] is False
    attrs = {a["name"]: a for a in types["incident"]["attributes"]}
    assert attrs["numberofchildincidents"]["watch_supported"] is False
    assert attrs["prioritycode"]["watch_supported"] is True
    view = next(v for v in types["incident"]["views"] if v["name"] == "Cases with attachments")
    assert [c["supported"] for c in view["columns"]] == [True, False, True, True, True]
    assert view["skipped"] == ["Customers"]
