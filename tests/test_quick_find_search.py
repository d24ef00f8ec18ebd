"""Find a record through the front door with Dataverse, as Dynamics 365's Quick Find searches: the find columns
AND the Quick Find view's other conditions. The fake serves "Quick Find Active Cases" with its statecode filter
(tests/fake_dataverse_seed.fetchxml); a resolved case matching the text is not found, the active one is."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest

from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data
from tests.teams import Bot
from tests.test_search_extension import query

ACTIVE = "Contoso - printer outage in building 4"
RESOLVED = {"Printer on floor 3 shows offline", "Printers offline in building 2", "Print queue stuck, printer offline",
            "Printer offline after firmware update", "Printers offline in building 5"}
STATE = '<condition attribute="statecode" operator="eq" value="0" />'


def aad(name: str) -> str:
    return next(u["aadObjectId"] for u in demo_data()[0]["users"] if u["name"] == name)


def case_view(fake: FakeDataverse, edit: Callable[[str], str]) -> None:
    """Change the fake's "Quick Find Active Cases" fetchxml (before the app first reads it)."""
    row = next(r for r in fake.rows("savedquery") if r["name"] == "Quick Find Active Cases")
    row["fetchxml"] = edit(row["fetchxml"])


@pytest.fixture
async def fake() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(demo_data()[0]) as dv:
        yield dv


async def titles(fake: FakeDataverse, connector: FakeConnector, http: aiohttp.ClientSession, sqlite_url: str,
                 text: str, *users: str) -> list[list[str]]:
    """What each user's Find a record search for `text` shows, through a Dataverse-backed service."""
    _app, runner, url = await start_app(test_config(sqlite_url, record_source=f"dataverse:{fake.url}",
                                                    dataverse_auth="none"))
    try:
        bot = Bot(url, connector.url, http)
        out = []
        for user in users:
            status, answer = await bot.post(query(text, user=aad(user)))
            assert status == 200 and answer["composeExtension"]["type"] in ("result", "message"), answer
            out.append([a["preview"]["content"]["title"]
                        for a in answer["composeExtension"].get("attachments", [])])
        return out
    finally:
        await runner.cleanup()


async def test_resolved_cases_are_not_found(fake: FakeDataverse, connector: FakeConnector,
                                            http: aiohttp.ClientSession, sqlite_url: str) -> None:
    [found] = await titles(fake, connector, http, sqlite_url, "printer", "Patti Fernandez")
    assert ACTIVE in found and not RESOLVED & set(found), found
    searches = [r for r in fake.calls("GET") if r.path == "incidents"]
    assert searches and all(r.query["$filter"] == "(contains(title,'printer') or contains(ticketnumber,'printer'))"
                                                  " and statecode eq 0" for r in searches)
    assert all(r.headers.get("callerobjectid") == aad("Patti Fernandez") for r in searches)


async def test_without_the_views_condition_resolved_cases_are_found(
        fake: FakeDataverse, connector: FakeConnector, http: aiohttp.ClientSession, sqlite_url: str) -> None:
    """The same search on a view with no statecode condition: the resolved cases were readable all along."""
    case_view(fake, lambda xml: xml.replace(STATE, ""))
    [found] = await titles(fake, connector, http, sqlite_url, "printer", "Patti Fernandez")
    assert ACTIVE in found and RESOLVED <= set(found), found


async def test_current_user_condition_is_the_searching_agent(
        fake: FakeDataverse, connector: FakeConnector, http: aiohttp.ClientSession, sqlite_url: str) -> None:
    """A "my active cases" Quick Find view (ownerid eq-userid): each agent finds only the cases they own."""
    case_view(fake, lambda xml: xml.replace(STATE, STATE + '<condition attribute="ownerid" operator="eq-userid" />'))
    alex, patti = await titles(fake, connector, http, sqlite_url, "printer", "Alex Wilber", "Patti Fernandez")
    assert ACTIVE in alex
    assert ACTIVE not in patti and not RESOLVED & set(patti), patti


async def test_untranslatable_conditions_broaden_and_are_logged_once(
        fake: FakeDataverse, connector: FakeConnector, http: aiohttp.ClientSession, sqlite_url: str,
        caplog: pytest.LogCaptureFixture) -> None:
    """A linked table's condition and an unknown operator are left out (never an error), named once at INFO."""
    link = ('<link-entity name="account" from="accountid" to="customerid" link-type="inner">'
            '<filter><condition attribute="name" operator="like" value="Contoso%" /></filter></link-entity>')
    case_view(fake, lambda xml: xml.replace(STATE, STATE + '<condition attribute="ownerid" '
                                                           'operator="eq-businessid" />').replace("</entity>",
                                                                                                   link + "</entity>"))
    with caplog.at_level(logging.INFO, logger="records.dataverse_search"):
        [first, again] = await titles(fake, connector, http, sqlite_url, "printer", "Patti Fernandez",
                                      "Patti Fernandez")
    assert ACTIVE in first and first == again and not RESOLVED & set(first)
    told = [r.getMessage() for r in caplog.records if r.getMessage().startswith("incident: conditions")]
    assert len(told) == 1 and "link-entity account" in told[0] and "ownerid eq-businessid" in told[0], told
