"""Notifications follow the settings (issue 14): the service reconciles Dataverse's webhook steps itself, at start
and after each settings save, without making the save wait; idempotent; a failure shows on the status view and is
retried. Through the real HTTP doors against the fake Dataverse's sdkmessageprocessingstep/-image rows."""
from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from records.register_webhooks import main as register_webhooks
from tests.admin_support import Tab
from tests.dataverse_app import DataverseApp, dataverse_app
from tests.fake_connector import FakeConnector
from tests.notify_helpers import eventually
from tests.teams import PATTI

HOOK = "https://bot.example/api/dataverse/webhook"
SDK = ("sdkmessageprocessingsteps", "sdkmessageprocessingstepimages")


async def status(tab: Tab, admin: str) -> dict[str, Any]:
    reply = await tab.get("/api/dataverse/registrations", admin)
    assert reply.status == 200, reply.body
    body: dict[str, Any] = reply.body
    return body


async def until(tab: Tab, admin: str, state: str, within: float = 5.0) -> dict[str, Any]:
    async def reached() -> bool:
        return (await status(tab, admin))["state"] == state
    assert await eventually(reached, within=within), await status(tab, admin)
    return await status(tab, admin)


def steps(env: DataverseApp) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in env.dv.rows("sdkmessageprocessingstep")}


def images(env: DataverseApp, step: dict[str, Any]) -> list[tuple[int, str]]:
    return sorted((i["imagetype"], i["attributes"]) for i in env.dv.rows("sdkmessageprocessingstepimage")
                  if i["sdkmessageprocessingstepid"].id == step["sdkmessageprocessingstepid"])


def writes(env: DataverseApp) -> int:
    return sum(1 for r in env.dv.requests if r.method != "GET" and r.path.startswith(SDK))


async def save(tab: Tab, admin: str, change: Any) -> None:
    settings, etag = await tab.settings(admin)
    change(settings)
    reply = await tab.put_settings(admin, settings, etag)
    assert reply.status == 200, reply.body


async def test_steps_follow_the_settings(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                         connector: FakeConnector, http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        tab, admin = env.tab, env.aad(PATTI)
        first = await until(tab, admin, "error")  # no endpoint yet: the admin is told what to run
        assert "register_webhooks" in first["last_error"]
        assert await register_webhooks(["--org", env.dv.url, "--url", HOOK, "--key", "k"],
                                       env={"DATAVERSE_AUTH": "none"}) == 0
        assert (await tab.call("POST", "/api/dataverse/registrations/sync", admin)).status == 202
        await until(tab, admin, "in_sync")
        case = steps(env)["connected-chats: Update of incident"]
        # The similar-cases index (issue 16) adds the compared fields, the case lifecycle policy (issue 15, on by
        # default) the owner; the similar-cases steps need no images.
        assert case["filteringattributes"] == "description,ownerid,prioritycode,statecode,statuscode,title"
        assert "connected-chats: Create of incidentresolution" in steps(env)
        # The images now also hold the primary name, so a notification can name the record.
        assert images(env, case) == [(0, "ownerid,prioritycode,statecode,statuscode,title"),
                                     (1, "ownerid,prioritycode,statecode,statuscode,title")]

        def watch_accounts(s: dict[str, Any]) -> None:
            s["record_types"]["account"].update(notify=True, watched=["telephone1", "name"])
            s["record_types"]["incident"]["watched"] = ["prioritycode"]
            s["record_types"]["incident"]["lifecycle"] = {k: "off" if k == "reassign_add" else False
                                                          for k in s["record_types"]["incident"]["lifecycle"]}
        await save(tab, admin, watch_accounts)
        await until(tab, admin, "in_sync")
        assert await eventually(lambda: "connected-chats: Update of account" in steps(env))
        account = steps(env)["connected-chats: Update of account"]
        assert account["filteringattributes"] == "name,telephone1" and account["mode"] == 1
        assert images(env, account) == [(0, "name,telephone1"), (1, "name,telephone1")]
        assert await eventually(lambda: steps(env)["connected-chats: Update of incident"]["filteringattributes"]
                                == "description,prioritycode,statecode,title")

        await save(tab, admin, lambda s: s["record_types"]["incident"].update(notify=False, watched=[],
                                                                             similar_contacts=False))
        assert await eventually(lambda: "connected-chats: Update of incident" not in steps(env))
        assert len(env.dv.rows("sdkmessageprocessingstepimage")) == 2  # only the account step's images remain
        await until(tab, admin, "in_sync")

        before = writes(env)  # idempotent: another run changes nothing
        assert (await tab.call("POST", "/api/dataverse/registrations/sync", admin)).status == 202
        await until(tab, admin, "in_sync")
        assert writes(env) == before


async def test_failure_is_shown_retried_and_never_blocks_the_save(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                                 connector: FakeConnector,
                                                                 http: aiohttp.ClientSession):
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        tab, admin = env.tab, env.aad(PATTI)
        assert await register_webhooks(["--org", env.dv.url, "--url", HOOK, "--key", "k", "--name", "connected-chats"],
                                       env={"DATAVERSE_AUTH": "none"}) == 0
        assert (await tab.call("POST", "/api/dataverse/registrations/sync", admin)).status == 202
        await until(tab, admin, "in_sync")
        env.dv.forbid("POST", "sdkmessageprocessingsteps")
        await save(tab, admin, lambda s: s["record_types"]["account"].update(notify=True, watched=["name"]))
        failed = await until(tab, admin, "error")
        assert "missing prvPostsdkmessageprocessingsteps privilege" in failed["last_error"]
        assert "connected-chats: Update of account" not in steps(env)
        done = await until(tab, admin, "in_sync", within=8)  # the retry (after ~2 s) succeeds
        assert done["last_error"] == "" and "connected-chats: Update of account" in steps(env)
        page = await tab.get("/tabs/admin/form", admin)
        assert 'id="registrations"' in page.body and "In sync" in page.body


async def test_status_says_not_applicable_with_the_local_directory(sqlite_url: str, connector: FakeConnector,
                                                                   http: aiohttp.ClientSession):
    from tests.admin_support import start_tab
    from tests.fake_identity import FakeIdentity
    async with FakeIdentity() as entra:
        tab, runner = await start_tab(sqlite_url, entra, connector, http)
        try:
            assert (await status(tab, PATTI))["state"] == "not_applicable"
        finally:
            await runner.cleanup()


async def test_a_table_without_an_update_message_cannot_notify(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                              connector: FakeConnector, http: aiohttp.ClientSession):
    """Whether a table raises update events is read from its Update sdkmessagefilter (not IsCustomizable, which
    stays true here): without one, notifications for it are refused on save and the page cannot offer them."""
    def no_contact_update(dv):  # type: ignore[no-untyped-def]
        for fid, row in list(dv._rows["sdkmessagefilter"].items()):
            if row["primaryobjecttypecode"] == "contact" and row["sdkmessageid"].id == next(
                    m["sdkmessageid"] for m in dv.rows("sdkmessage") if m["name"] == "Update"):
                del dv._rows["sdkmessagefilter"][fid]

    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=no_contact_update) as env:
        tab, admin = env.tab, env.aad(PATTI)
        assert env.dv.tables["contact"].customizable
        settings, etag = await tab.settings(admin)
        settings["record_types"]["contact"].update(notify=True, watched=["fullname"])
        reply = await tab.put_settings(admin, settings, etag)
        assert reply.status == 400 and "can't raise update events" in reply.body["error"]
        types = {t["logical_name"]: t for t in (await tab.get("/api/record-types", admin)).body["record_types"]}
        assert types["contact"]["notify_supported"] is False and types["incident"]["notify_supported"] is True
