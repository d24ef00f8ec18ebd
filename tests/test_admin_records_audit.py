"""The record view and audit behind the tab, and the pages themselves, through real HTTP with SSO tokens from
a fake Entra ID and Microsoft Graph replaced by the fake Graph server."""
from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.fake_identity import FakeIdentity
from tests.teams import ADELE, ALEX, GROUP, ISAIAH, PATTI

CASE = "CAS-01001-K7R2M8"
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
CASE_API = f"/api/records/case/{CASE}"


@pytest.fixture
async def entra() -> AsyncIterator[FakeIdentity]:
    async with FakeIdentity() as fake:
        yield fake


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        yield fake


@pytest.fixture
async def tab(sqlite_url: str, entra: FakeIdentity, graph: FakeGraph, connector: FakeConnector,
              http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    client, runner = await start_tab(sqlite_url, entra, connector, http, graph_base_url=graph.url, graph_auth="none")
    yield client
    await runner.cleanup()


async def connected_case(tab: Tab, graph: FakeGraph) -> None:
    """Alex connects the group chat (of which he is the only member) to the case through the bot."""
    graph.add_chat(GROUP, members=[ALEX], topic="Printer outage")
    status, _ = await tab.bot.say(f"connect case {CASE}")
    assert status == 200


# -- record view -----------------------------------------------------------------------------------------

async def test_record_view_shows_each_callers_rights(tab: Tab, graph: FakeGraph):
    """The connected chat with disconnect and join state per caller, by the same rules as the bot."""
    await connected_case(tab, graph)
    alex = (await tab.get(CASE_API + "/connections", ALEX)).body
    assert alex["record"]["id"] == CASE_ID and len(alex["chats"]) == 1
    assert alex["chats"][0]["can_disconnect"] is True and alex["chats"][0]["is_member"] is True
    isaiah = (await tab.get(CASE_API + "/connections", ISAIAH)).body["chats"][0]
    assert isaiah["can_disconnect"] is False and "only the record owner" in isaiah["disconnect_reason"]
    assert isaiah["can_join"] is True and isaiah["is_member"] is False
    adele = (await tab.get(CASE_API + "/connections", ADELE)).body["chats"][0]
    assert adele["can_join"] is False and "write access" in adele["join_reason"]


async def test_record_view_refuses_apps_that_are_off(tab: Tab, graph: FakeGraph):
    """EN-02: the record view takes the app as a parameter and refuses apps where the feature is off."""
    assert (await tab.get(CASE_API + "/connections?app=Sales%20Hub", ALEX)).status == 403
    assert (await tab.get(CASE_API + "/connections?app=Customer%20Service%20Hub", ALEX)).status == 200


async def test_record_view_unknown_record_is_404(tab: Tab):
    """An unknown record or type is 404 with a message, not a 500."""
    assert (await tab.get("/api/records/case/CAS-NOPE/connections", ALEX)).status == 404
    assert (await tab.get("/api/records/spaceship/1/connections", ALEX)).status == 404


async def test_disconnect_from_record_view_enforces_rules(tab: Tab, graph: FakeGraph, connector: FakeConnector):
    """Isaiah (no right) is refused and nothing changes; Alex (connector and owner) disconnects, the chat is told."""
    await connected_case(tab, graph)
    before = len(connector.cards(GROUP))
    refused = await tab.call("POST", CASE_API + "/disconnect", ISAIAH, body={"chatId": GROUP})
    assert refused.status == 403 and "can't disconnect" in refused.body["error"]
    assert len((await tab.get(CASE_API + "/connections", ALEX)).body["chats"]) == 1
    done = await tab.call("POST", CASE_API + "/disconnect", ALEX, body={"chatId": GROUP})
    assert done.status == 200 and done.body["posted"] is True
    assert len(connector.cards(GROUP)) == before + 1
    assert (await tab.get(CASE_API + "/connections", ALEX)).body["chats"] == []
    again = await tab.call("POST", CASE_API + "/disconnect", ALEX, body={"chatId": GROUP})
    assert again.status == 409


async def test_connect_from_record_view(tab: Tab, graph: FakeGraph, connector: FakeConnector):
    """Connect by chat id: only group chats the bot is in, only by a member, only for enabled types."""
    await connected_case(tab, graph)
    url = "/api/records/account/ACC-1001/connect"
    stranger = await tab.call("POST", url, ISAIAH, body={"chatId": GROUP})
    assert stranger.status == 403 and "member" in stranger.body["error"]
    ok = await tab.call("POST", url, ALEX, body={"chatId": GROUP})
    assert ok.status == 201 and ok.body["created"] is True
    assert "Contoso Ltd" in str(connector.cards(GROUP)[-1])
    assert (await tab.call("POST", url, ALEX, body={"chatId": GROUP})).status == 200  # already connected
    channel = await tab.call("POST", url, ALEX, body={"chatId": "19:abc@thread.tacv2"})
    assert channel.status == 400 and channel.body["field"] == "chatId"
    unknown = await tab.call("POST", url, ALEX, body={"chatId": "19:unknown@thread.v2"})
    assert unknown.status == 409
    off = await tab.call("POST", "/api/records/msdyn_workorder/WO-00042/connect", ALEX, body={"chatId": GROUP})
    assert off.status == 403 and "hasn't turned that record type on" in off.body["error"]
    assert (await tab.call("POST", url, ALEX, body={"nope": 1})).status == 400


async def test_join_from_record_view(tab: Tab, graph: FakeGraph):
    """JOIN-01/03: Isaiah (write access) joins with full history and the audit records it; Adele (read) cannot."""
    await connected_case(tab, graph)
    locked = await tab.call("POST", CASE_API + "/join", ADELE, body={"chatId": GROUP})
    assert locked.status == 403 and "locked" in locked.body["error"]
    joined = await tab.call("POST", CASE_API + "/join", ISAIAH, body={"chatId": GROUP})
    assert joined.status == 200 and "added" in joined.body["message"]
    add = graph.calls("POST", f"/chats/{GROUP}/members")
    assert len(add) == 1 and add[0].json["visibleHistoryStartDateTime"] == "0001-01-01T00:00:00Z"
    events = (await tab.get("/api/audit?event=join", PATTI)).body["events"]
    assert [e["user_name"] for e in events] == ["Isaiah Langer"]


# -- audit -----------------------------------------------------------------------------------------------

async def test_audit_lists_filters_and_exports(tab: Tab, graph: FakeGraph):
    """Connect and disconnect events with who/when/record/chat; filters narrow them; CSV has the same rows."""
    await connected_case(tab, graph)
    await tab.bot.say(f"disconnect case {CASE}")
    events = (await tab.get("/api/audit", PATTI)).body["events"]
    assert [e["event"] for e in events] == ["disconnect", "connect"]
    assert events[1]["user_name"] == "Alex Wilber" and events[1]["record_id"] == CASE_ID
    assert events[1]["record_name"] and events[1]["chat_id"] == GROUP and events[1]["at"]
    only = (await tab.get("/api/audit?event=disconnect&record_type=incident", PATTI)).body["events"]
    assert len(only) == 1
    assert (await tab.get("/api/audit?since=2999-01-01", PATTI)).body["events"] == []
    assert len((await tab.get("/api/audit?until=2999-01-01T00:00:00Z", PATTI)).body["events"]) == 2
    bad = await tab.get("/api/audit?since=yesterday", PATTI)
    assert bad.status == 400 and bad.body["field"] == "since"
    exported = await tab.get("/api/audit.csv?event=connect", PATTI)
    assert exported.status == 200 and exported.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in exported.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.body)))
    assert len(rows) == 1 and rows[0]["user_name"] == "Alex Wilber" and rows[0]["chat_id"] == GROUP


async def test_audit_is_for_admins(tab: Tab):
    """Agents cannot read the audit (403); the HTML rows fragment is guarded the same way."""
    assert (await tab.get("/api/audit", ALEX)).status == 403
    assert (await tab.get("/api/audit.csv", ALEX)).status == 403
    assert (await tab.get("/tabs/audit/rows", ALEX)).status == 403


# -- pages -----------------------------------------------------------------------------------------------

async def test_pages_are_shells_that_teams_may_frame(tab: Tab):
    """The page shells load without a token, may be framed by Teams, and carry no dev banner by default."""
    for path in ("/tabs/admin", "/tabs/audit", f"/tabs/record?type=case&id={CASE}&app=Customer%20Service%20Hub"):
        page = await tab.get(path)
        assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
        assert "https://teams.microsoft.com" in page.headers["Content-Security-Policy"]
        assert "Development mode" not in page.body
    assert (await tab.get("/tabs/record")).status == 400
    assert (await tab.get("/tabs/static/admin.js")).status == 200


async def test_settings_form_is_read_only_for_agents_and_escapes_text(tab: Tab):
    """Agents get the form disabled; admins get Save; text from settings is HTML-escaped."""
    body, etag = await tab.settings(PATTI)
    body["known_apps"] = [*body["known_apps"], "<script>alert(1)</script>"]
    assert (await tab.put_settings(PATTI, body, etag)).status == 200
    agent = (await tab.get("/tabs/admin/form", ALEX)).body
    assert "only administrators" in agent and 'fieldset class="all" disabled' in agent
    admin = (await tab.get("/tabs/admin/form", PATTI)).body
    assert 'id="save"' in admin and "<script>alert(1)" not in admin and "&lt;script&gt;alert(1)" in admin
    assert (await tab.get("/tabs/admin/type?type=msdyn_workorder", ALEX)).status == 403
    panel = await tab.get("/tabs/admin/type?type=msdyn_workorder", PATTI)
    assert panel.status == 200 and 'data-type="msdyn_workorder"' in panel.body


async def test_dev_local_admin_only_in_local_mode(sqlite_url: str, http: aiohttp.ClientSession):
    """DEV_LOCAL_ADMIN lets a tokenless caller administer in local mode (with a banner); with an app id it is
    ignored, and without SSO configured the API refuses everyone."""
    for overrides, status, banner in (({"dev_admin": True}, 200, True),
                                      ({"dev_admin": True, "app_id": "bot-app-id"}, 401, False),
                                      ({}, 401, False)):
        _, runner, url = await start_app(test_config(sqlite_url, **overrides))
        try:
            async with http.get(url + "/api/settings") as resp:
                assert resp.status == status, overrides
            async with http.get(url + "/tabs/admin") as resp:
                assert ("Development mode" in await resp.text()) is banner
        finally:
            await runner.cleanup()
