"""RecordSource.search on both sources (the local directory and Dataverse through the fake Web API, seeded alike),
then what is Dataverse's own: the Quick Find view's find columns, one request per type with $select/$top,
metacharacters as plain text on the wire, and service-protection 429s inside Teams' invoke budget."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from records.dataverse import DataverseRecordSource
from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data
from tests.teams import Bot
from tests.test_record_source_contract import ALEX, Env, env  # noqa: F401  (the two-source fixture)
from tests.test_search_extension import query

HOSTILE = ("' or 1 eq 1 or title eq '", "%", "_", "[a]", "contains(title,'a')", "a)) or (true", "$top=1000")


async def names(on: Env, types: tuple[str, ...], text: str, limit: int = 10, owner: str | None = None
                ) -> list[str]:
    rtypes = [t for t in [await on.source.record_type(n) for n in types] if t]
    return [r.name for r in await on.source.search(rtypes, text, limit, owner_id=owner)]


async def test_search_by_name_and_number_alike(env: Env) -> None:  # noqa: F811
    assert await names(env, ("incident", "email"), "OUTAGE") == [
        "Contoso - printer outage in building 4", "RE: Printer outage"]
    assert await names(env, ("incident",), "cas-01001-k7r2m8") == ["Cannot sign in to the customer portal"]
    assert (await names(env, ("incident", "account"), "CAS-0100"))[:2] == [
        "Cannot sign in to the customer portal", "Invoice shows the wrong tax rate"]
    assert await names(env, ("incident", "account"), "contoso", limit=1) == ["Contoso - printer outage in building 4"]
    assert await names(env, ("account",), 'Quote "test"') == []


async def test_quick_find_conditions_leave_resolved_cases_out(env: Env) -> None:  # noqa: F811
    """"Quick Find Active Cases" finds active cases only (Dataverse: its statecode condition; the local directory:
    the same condition in its view); a resolved case is still there to look up by number."""
    assert await names(env, ("incident",), "printer") == ["Contoso - printer outage in building 4"]
    assert await names(env, ("incident",), "CAS-00901-R1S1D1") == []
    resolved = await env.source.get_record("incident", "CAS-00901-R1S1D1")
    assert resolved is not None and resolved.name == "Printer on floor 3 shows offline"


async def test_owned_records_with_empty_text(env: Env) -> None:  # noqa: F811
    owned = await names(env, ("incident", "contact", "email", "account"), "", owner=env.id(ALEX))
    assert set(owned) == {"Contoso - printer outage in building 4", "Cannot sign in to the customer portal",
                          "Nestor Wilke", "RE: Printer outage"}
    assert await names(env, ("incident",), "") == []


async def test_metacharacters_are_plain_text(env: Env) -> None:  # noqa: F811
    for text in HOSTILE:
        assert await names(env, ("incident", "account", "email"), text) == [], text


# -- Dataverse only ---------------------------------------------------------------------------------------

@pytest.fixture
async def fake() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(demo_data()[0]) as dv:
        yield dv


@pytest.fixture
async def source(fake: FakeDataverse) -> AsyncIterator[DataverseRecordSource]:
    src = DataverseRecordSource(fake.url, None, ("incident", "email"))
    yield src
    await src.close()


async def test_quick_find_columns_and_one_request_per_type(fake: FakeDataverse, source: DataverseRecordSource):
    types = list(await source.record_types())
    await source.search(types, "printer", 5)  # loads metadata and the Quick Find views once
    fake.requests.clear()
    found = await source.search(types, "it's 100%_[x]", 5)
    assert found == []
    reads = fake.calls("GET")
    assert sorted(r.path for r in reads) == ["emails", "incidents"]
    incident = next(r.query for r in reads if r.path == "incidents")
    # The Quick Find view names title, ticketnumber and customerid; a lookup cannot be contains()ed. Its
    # other condition (active cases only) is ANDed, as Dynamics 365's Quick Find does.
    assert incident["$filter"] == ("(contains(title,'it''s 100[%][_][[]x]') or "
                                   "contains(ticketnumber,'it''s 100[%][_][[]x]')) and statecode eq 0")
    assert incident["$top"] == "5" and "ticketnumber" in incident["$select"].split(",")
    email = next(r.query for r in reads if r.path == "emails")
    # The email view's statecode condition names a column this table does not have here: left out.
    assert email["$filter"] == "contains(subject,'it''s 100[%][_][[]x]')"


async def test_throttling_is_waited_out_when_short(fake: FakeDataverse, source: DataverseRecordSource):
    types = list(await source.record_types())
    await source.search(types, "x", 5)
    fake.throttle(1, retry_after="0.05")
    assert [r.name for r in await source.search(types, "outage", 5)] == [
        "Contoso - printer outage in building 4", "RE: Printer outage"]


async def test_long_throttling_answers_try_again_within_the_invoke_budget(
        fake: FakeDataverse, connector: FakeConnector, http: aiohttp.ClientSession, sqlite_url: str):
    """Dataverse asks to wait 5 s: Teams would give up, so the agent gets "try again", not an error."""
    import time

    _app, runner, url = await start_app(test_config(sqlite_url, record_source=f"dataverse:{fake.url}",
                                                    dataverse_auth="none"))
    try:
        bot = Bot(url, connector.url, http)
        alex = next(u["aadObjectId"] for u in demo_data()[0]["users"] if u["name"] == "Alex Wilber")
        status, answer = await bot.post(query("outage", user=alex))
        assert status == 200 and len(answer["composeExtension"].get("attachments", [])) == 2, answer
        # Searched as Alex (CallerObjectId): Dataverse returned only what he may read, no access check per row.
        searches = [r for r in fake.calls("GET") if r.path in ("incidents", "emails")]
        assert searches and all(r.headers.get("callerobjectid") == alex for r in searches)
        assert not fake.calls("GET", "systemusers") or not [
            r for r in fake.calls("GET") if "RetrievePrincipalAccess" in r.path]
        isaiah = next(u["aadObjectId"] for u in demo_data()[0]["users"] if u["name"] == "Isaiah Langer")
        _, answer = await bot.post(query("outage", user=isaiah))
        assert [a["preview"]["content"]["title"] for a in answer["composeExtension"]["attachments"]] == [
            "Contoso - printer outage in building 4"]  # he cannot read emails
        fake.throttle(4, retry_after="5")
        began = time.monotonic()
        status, answer = await bot.post(query("outage", user=alex))
        assert time.monotonic() - began < 4.8
        assert status == 200 and answer["composeExtension"] == {
            "type": "message", "text": "The CRM is busy right now; try your search again in a moment."}
    finally:
        await runner.cleanup()
