"""AI-suggested contacts settings through the settings API (admin tab): saved per type, every bad value refused
with the field named and nothing saved."""
from __future__ import annotations

import copy
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.admin_support import Tab, start_tab
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.teams import PATTI


@pytest.fixture
async def tab(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Tab]:
    async with FakeIdentity() as entra:
        client, runner = await start_tab(sqlite_url, entra, connector, http)
        yield client
        await runner.cleanup()


async def test_defaults_and_a_valid_change_is_saved(tab: Tab):
    body, etag = await tab.settings(PATTI)
    case = body["record_types"]["incident"]
    assert (case["similar_contacts"], case["similar_fields"], case["similar_first"]) == \
        (True, ["title", "description"], False)
    assert body["record_types"]["account"]["similar_contacts"] is False
    case.update(similar_fields=["title", "description", "customerid"], similar_lookback_days=90,
                similar_threshold=0.4, similar_first=True)
    reply = await tab.put_settings(PATTI, body, etag)
    assert reply.status == 200, reply.body
    saved = (await tab.settings(PATTI))[0]["record_types"]["incident"]
    assert (saved["similar_fields"], saved["similar_lookback_days"], saved["similar_threshold"],
            saved["similar_first"]) == (["title", "description", "customerid"], 90, 0.4, True)


INVALID = {
    "no fields": ({"similar_fields": []}, "similar_fields", "at least one"),
    "unknown field": ({"similar_fields": ["title", "nosuch"]}, "similar_fields", "no attribute 'nosuch'"),
    "a date field": ({"similar_fields": ["createdon"]}, "similar_fields", "is a DateTime"),
    "fields not a list": ({"similar_fields": "title"}, "similar_fields", "list"),
    "zero lookback": ({"similar_lookback_days": 0}, "similar_lookback_days", "1 to 3650"),
    "text lookback": ({"similar_lookback_days": "30"}, "similar_lookback_days", "whole number"),
    "threshold above 1": ({"similar_threshold": 1.5}, "similar_threshold", "0 to 1"),
    "text toggle": ({"similar_contacts": "on"}, "similar_contacts", "true or false"),
}


@pytest.mark.parametrize("name", list(INVALID))
async def test_bad_values_get_400_naming_the_field(tab: Tab, name: str):
    change, field, words = INVALID[name]
    body, etag = await tab.settings(PATTI)
    bad = copy.deepcopy(body)
    bad["record_types"]["incident"].update(change)
    reply = await tab.put_settings(PATTI, bad, etag)
    assert reply.status == 400, reply.body
    assert reply.body["field"] == f"record_types.incident.{field}" and words.lower() in reply.body["error"].lower()
    assert await tab.settings(PATTI) == (body, etag)


def test_dataverse_steps_follow_the_settings():
    """The registration reconciler (issue 14) is given these needs: resolutions, compared fields, reactivation."""
    from dataclasses import replace

    from domain.registrations import desired_steps, notification_needs
    from domain.settings import Settings
    from domain.similar_settings import similar_needs

    names = {"incident": "title"}
    steps = {d.name: d for d in desired_steps(Settings(), names, (notification_needs, similar_needs))}
    assert steps["connected-chats: Create of incidentresolution"].filtering is None
    assert steps["connected-chats: Delete of incident"].filtering is None
    update = steps["connected-chats: Update of incident"]
    assert {"statecode", "title", "description", "prioritycode"} <= set(update.filtering or ())
    assert "AI-suggested contacts" in update.purposes and "key-update notifications" in update.purposes
    off = Settings().with_type("incident", replace(Settings().record_types["incident"], similar_contacts=False))
    names_off = {d.name for d in desired_steps(off, names, (notification_needs, similar_needs))}
    assert names_off == {"connected-chats: Update of incident"}
