"""AI-suggested contacts for a Dataverse type without a resolution activity (a work order): leaving the Active state
is the resolution. Webhook messages POSTed to /api/dataverse/webhook keep the index current and `suggest work order`
(posted to /api/messages) shows the resolver under "Resolved similar cases"; the backfill pages the table by
@odata.nextLink; the registration reconciler keeps the type's Update and Delete steps. Against the fake Dataverse."""
from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import datetime

import aiohttp
import pytest

from domain.settings import RecordTypeSettings
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_graph import FakeGraph
from tests.notify_helpers import Service, notify_config
from tests.similar_types import (
    CREATED,
    MEGAN_ID,
    OPEN_HVAC,
    SIMILAR_HVAC,
    SUMMARY,
    WORKORDER,
    delete_body,
    update_body,
    workorder_data,
)
from tests.teams import ISAIAH, MEGAN, PATTI
from tests.test_similar_contacts import SECTION, section_people

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
    """(name -> reason) of "Resolved similar cases" in `suggest work order WO-00050` as Patti, and the card text."""
    status, _ = await service.bot.say(f"suggest work order {OPEN_HVAC[1]}", conv="a:patti", conv_type="personal",
                                      user=patti)
    assert status == 200
    card = connector.cards("a:patti")[-1]
    return dict(section_people(card)), json.dumps(card, ensure_ascii=False)


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
    assert people["Megan Bowen"] == f"resolved 1 similar case, latest 3 days ago, typically in {typical} days"
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
        "resolved 1 similar case, latest 1 day ago")

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
    assert SECTION not in text

