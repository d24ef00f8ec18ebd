"""AI-suggested contacts for a Dataverse type without a resolution activity (a work order): leaving the Active state
is the resolution. Webhook messages POSTed to /api/dataverse/webhook keep the index current and `suggest work order`
(posted to /api/messages) shows the resolver under "Resolved similar records"; the backfill pages the table by
@odata.nextLink; the registration reconciler keeps the type's Update and Delete steps. Against the fake Dataverse."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from domain.settings import RecordTypeSettings
from domain.similar import OTHER_SECTION
from records.dataverse import DataverseRecordSource
from records.dataverse_http import DataverseError
from records.register_webhooks import main as register_webhooks
from store.db import open_database
from store.migrations import migrate
from store.reindex import backfill
from store.settings_store import SqlSettingsStore
from store.similar import SqlSimilarCases
from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_graph import FakeGraph
from tests.notify_helpers import Service, eventually, notify_config
from tests.similar_types import (
    CREATED,
    ISAIAH_ID,
    MEGAN_ID,
    OPEN_HVAC,
    SIMILAR_HVAC,
    SUMMARY,
    WORKORDER,
    closed_id,
    delete_body,
    update_body,
    workorder_data,
)
from tests.teams import ISAIAH, MEGAN, PATTI
from tests.test_registrations import HOOK, images, save, steps, until
from tests.test_similar_contacts import SECTION, section_people

ROOT = Path(__file__).resolve().parent.parent
ON = RecordTypeSettings(similar_contacts=True, similar_fields=(SUMMARY,))


@pytest.fixture
async def workorders(database_url: str, connector: FakeConnector, http: aiohttp.ClientSession
                     ) -> AsyncIterator[tuple[Service, FakeDataverse, dict[str, str]]]:
    data, ids = workorder_data()
    async with FakeDataverse(data) as dv, FakeGraph() as graph:
        for aad in (MEGAN, ISAIAH, PATTI):
            graph.set_user(ids.get(aad, aad), licensed=True, presence="Available")
        config = notify_config(database_url, graph_base_url=graph.url, record_source=f"dataverse:{dv.url}",
                               dataverse_auth="none", dataverse_record_types=(WORKORDER,))
        service = await Service.start(config, connector, http)
        try:
            await service.save_settings(lambda s: s.with_type(WORKORDER, ON))
            yield service, dv, ids
        finally:
            await service.stop()


async def suggested(service: Service, connector: FakeConnector, patti: str) -> tuple[dict[str, str], str]:
    """(name -> reason) of "Resolved similar records" in `suggest work order WO-00050` as Patti, and the card text."""
    status, _ = await service.bot.say(f"suggest work order {OPEN_HVAC[1]}", conv="a:patti", conv_type="personal",
                                      user=patti)
    assert status == 200
    card = connector.cards("a:patti")[-1]
    return dict(section_people(card, OTHER_SECTION)), json.dumps(card, ensure_ascii=False)


async def patch(http: aiohttp.ClientSession, dv: FakeDataverse, record_id: str, body: dict) -> None:
    """Change the work order in the fake Dataverse, as the agent's app would before the webhook reports it."""
    async with http.patch(f"{dv.url}/api/data/v9.2/msdyn_workorders({record_id})", json=body,
                          headers={"If-Match": "*"}) as resp:
        assert resp.status == 204, await resp.text()


async def test_deactivated_work_order_suggests_its_resolver_at_once(
        workorders: tuple[Service, FakeDataverse, dict[str, str]], connector: FakeConnector,
        http: aiohttp.ClientSession):
    """Megan deactivates a similar work order (statecode Active -> Inactive): suggestable as soon as the webhook
    is answered, with modifiedby as the resolver and modifiedon as the time; a duplicate delivery changes nothing;
    back to Active takes her out; closing again (no modifiedby in the Target: the initiating user) brings her
    back; a compared field changed re-indexes the text; Delete takes the work order out."""
    service, dv, ids = workorders
    patti = ids.get(PATTI, PATTI)
    people, _ = await suggested(service, connector, patti)
    assert "Megan Bowen" not in people
    wo = SIMILAR_HVAC[0]
    await patch(http, dv, wo, {"statecode": 1, "statuscode": 2})
    closed = update_body(wo, state=1, by=MEGAN_ID)  # the initiating user is Patti: modifiedby wins
    for _ in range(2):  # Dataverse retries: an upsert, never a second record
        status, reply = await service.webhook(closed)
        assert (status, reply["index"]) == (200, "indexed"), reply
    people, text = await suggested(service, connector, patti)
    typical = round((time.time() - 3 * 86_400 - datetime.fromisoformat(CREATED).timestamp()) / 86_400)
    assert people["Megan Bowen"] == f"resolved 1 similar record, latest 3 days ago, typically in {typical} days"
    assert "Patti Fernandez" not in people
    assert SIMILAR_HVAC[1] not in text and "startup" not in text  # the similar record is never named or quoted

    await patch(http, dv, wo, {"statecode": 0, "statuscode": 1})
    status, reply = await service.webhook(update_body(wo, state=0, by=MEGAN_ID, days_ago=2))
    assert (status, reply["index"]) == (200, "reactivated: removed")
    assert "Megan Bowen" not in (await suggested(service, connector, patti))[0]

    await patch(http, dv, wo, {"statecode": 1, "statuscode": 2})
    status, reply = await service.webhook(update_body(wo, state=1, by=None, initiating=MEGAN_ID, days_ago=1))
    assert (status, reply["index"]) == (200, "indexed")
    assert (await suggested(service, connector, patti))[0]["Megan Bowen"].startswith(
        "resolved 1 similar record, latest 1 day ago")

    await patch(http, dv, wo, {SUMMARY: "Annual fire extinguisher inspection"})
    status, reply = await service.webhook(update_body(wo, by=MEGAN_ID, days_ago=0,
                                                      changed={SUMMARY: "Annual fire extinguisher inspection"}))
    assert (status, reply["index"]) == (200, "indexed")
    assert "Megan Bowen" not in (await suggested(service, connector, patti))[0]

    # A compared field changed on an open (never indexed) work order: nothing to refresh.
    status, reply = await service.webhook(update_body(OPEN_HVAC[0], changed={SUMMARY: OPEN_HVAC[2] + "!"}))
    assert (status, reply["index"]) == (200, None)
    status, reply = await service.webhook(delete_body(wo))
    assert (status, reply["index"]) == (200, "removed")


async def test_other_types_and_types_with_the_feature_off_are_left_alone(
        workorders: tuple[Service, FakeDataverse, dict[str, str]], connector: FakeConnector):
    """Deactivating an account (AI-suggested contacts off) does not index it; with the work orders' feature off, a
    work order leaving Active is not indexed either."""
    service, _, ids = workorders
    account = update_body(SIMILAR_HVAC[0], state=1)
    account["PrimaryEntityName"] = "account"
    status, reply = await service.webhook(account)
    assert status == 200 and reply["index"] is None
    await service.save_settings(lambda s: s.with_type(WORKORDER, RecordTypeSettings(similar_contacts=False)))
    status, reply = await service.webhook(update_body(SIMILAR_HVAC[0], state=1))
    assert status == 200 and reply["index"] is None
    _, text = await suggested(service, connector, ids.get(PATTI, PATTI))
    assert OTHER_SECTION not in text and SECTION not in text



EXTRA = 1100  # inactive work orders: more than two pages of 500


@pytest.fixture
async def many() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(workorder_data(closed=EXTRA)[0]) as dv:
        yield dv


async def test_backfill_pages_inactive_records_by_next_link_and_resumes(many: FakeDataverse, sqlite_url: str):
    """`statecode ne 0` with the compared fields and modifiedby/modifiedon/createdon, a page at a time; stopped by
    an outage after the first page, the next run continues from the saved nextLink; active ones stay out."""
    db = await open_database(sqlite_url)
    await migrate(db)
    index = SqlSimilarCases(db)
    source = DataverseRecordSource(many.url, None, (WORKORDER,))
    seen: list[int] = []

    def fail_after_first_page(indexed: int, finished: bool) -> None:
        seen.append(indexed)
        if len(seen) == 1:
            many.fail(10, 503)  # Dataverse goes away for longer than the client's retries

    try:
        with pytest.raises(DataverseError):
            await backfill(source, index, WORKORDER, ON, progress=fail_after_first_page)
        assert seen == [500] and await index.count(WORKORDER) == 500
        many.fail(0, 503)
        assert await backfill(source, index, WORKORDER, ON) == EXTRA
        pages = many.calls("GET", "msdyn_workorders")
        first = next(r for r in pages if "$skiptoken" not in r.query)
        assert first.query["$filter"] == "statecode ne 0"
        assert first.query["$select"].split(",") == ["msdyn_workorderid", SUMMARY, "_modifiedby_value", "modifiedon",
                                                     "createdon"]
        assert first.headers["prefer"].endswith("odata.maxpagesize=500")
        assert sum(1 for r in pages if "$skiptoken" not in r.query) == 1  # the first page was not read again
        assert [r.query["$skiptoken"] for r in pages if "$skiptoken" in r.query][-2:] == ["500", "1000"]
        assert await index.count(WORKORDER) == EXTRA
        by, at = await index.resolution(WORKORDER, closed_id(EXTRA - 1)) or ("", None)
        assert by == ISAIAH_ID and at is not None and at.isoformat().startswith("2026-11-12T16:00")
        assert await index.resolution(WORKORDER, OPEN_HVAC[0]) is None  # still Active
    finally:
        await source.close()
        await db.close()


async def test_reindex_command_for_a_work_order(many: FakeDataverse, tmp_path: Path):
    """`python -m store.reindex --type msdyn_workorder` with the type's AI-suggested contacts on in the settings."""
    url = f"sqlite:///{tmp_path}/cc.db"
    db = await open_database(url)
    try:
        await migrate(db)
        settings, etag = await SqlSettingsStore(db).load()
        await SqlSettingsStore(db).save(settings.with_type(WORKORDER, ON), etag)
    finally:
        await db.close()
    env = {**os.environ, "RECORD_SOURCE": many.url, "DATAVERSE_AUTH": "none", "DATABASE_URL": url}
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "store.reindex", "--type", WORKORDER,
                                                cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, err.decode()
    assert f"{EXTRA} resolved {WORKORDER} records indexed" in out.decode() and " done" in err.decode()


async def test_registration_follows_the_settings_and_refuses_types_without_states(
        monkeypatch: pytest.MonkeyPatch, sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession):
    """Saved on the admin tab, AI-suggested contacts for work orders make the reconciler (issue 14) keep an Update
    step filtered on statecode plus the compared field, and a Delete step; off, both go. A table without states
    (the demo's contact) is refused with the field named."""
    data, ids = workorder_data()
    async with dataverse_app(monkeypatch, sqlite_url, connector, http, data=data, ids=ids,
                             dataverse_record_types=(WORKORDER,)) as env:
        tab, admin = env.tab, env.aad(PATTI)
        assert await register_webhooks(["--org", env.dv.url, "--url", HOOK, "--key", "k"],
                                       env={"DATAVERSE_AUTH": "none"}) == 0
        assert (await tab.call("POST", "/api/dataverse/registrations/sync", admin)).status == 202
        await until(tab, admin, "in_sync")
        assert not {f"connected-chats: {m} of {WORKORDER}" for m in ("Update", "Delete")} & set(steps(env))

        def switch(on: bool) -> Callable[[dict[str, Any]], None]:
            def change(s: dict[str, Any]) -> None:
                kind = s["record_types"].setdefault(WORKORDER, dict(s["record_types"]["account"]))
                kind.update(similar_contacts=on, similar_fields=[SUMMARY])
            return change

        await save(tab, admin, switch(True))
        await until(tab, admin, "in_sync")
        assert await eventually(lambda: f"connected-chats: Delete of {WORKORDER}" in steps(env))
        update, delete = (steps(env)[f"connected-chats: {m} of {WORKORDER}"] for m in ("Update", "Delete"))
        assert update["filteringattributes"] == f"{SUMMARY},statecode" and not delete.get("filteringattributes")
        assert images(env, update) == [] and images(env, delete) == []
        page = await tab.get("/tabs/admin/form", admin)  # the admin is told how to load the history
        assert f"python -m store.reindex --type {WORKORDER} once" in page.body

        body, etag = await tab.settings(admin)
        body["record_types"]["contact"].update(similar_contacts=True, similar_fields=["fullname"])
        reply = await tab.put_settings(admin, body, etag)
        assert reply.status == 400 and reply.body["field"] == "record_types.contact.similar_contacts"
        assert "no state (statecode)" in reply.body["error"]

        await save(tab, admin, switch(False))
        assert await eventually(lambda: not {f"connected-chats: {m} of {WORKORDER}" for m in ("Update", "Delete")}
                                & set(steps(env)))
        await until(tab, admin, "in_sync")


def test_steps_per_type_follow_the_settings():
    """The needs the reconciler is given: per type with the feature on, an Update step on statecode plus the
    compared fields and a Delete step; the incidentresolution Create step only for cases; none for a type agents
    may not connect chats to."""
    from dataclasses import replace

    from domain.registrations import desired_steps
    from domain.settings import Settings
    from domain.similar_settings import similar_needs

    settings = Settings().with_type(WORKORDER, ON).with_type("cr1_ticket", replace(ON, enabled=False))
    steps = {d.name: d for d in desired_steps(settings, {}, (similar_needs,))}
    assert set(steps) == {f"connected-chats: {m} of {t}" for m, t in (
        ("Create", "incidentresolution"), ("Update", "incident"), ("Delete", "incident"),
        ("Update", WORKORDER), ("Delete", WORKORDER))}
    assert steps[f"connected-chats: Update of {WORKORDER}"].filtering == (SUMMARY, "statecode")
    assert steps[f"connected-chats: Delete of {WORKORDER}"].filtering is None
