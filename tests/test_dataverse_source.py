"""Dataverse-only behaviour of the record source, against the fake Dataverse Web API: service protection
retries, 404s, caching, $select, the documented OData calls it relies on, and writes."""
from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from domain.ports import GatewayError
from records.dataverse import DataverseRecordSource
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data

CASE = "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21"
ALEX, MEGAN = "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21", "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
ISAIAH = "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"
MEGAN_AAD = "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"
TYPES = ("incident", "account", "contact", "knowledgearticle", "email", "msdyn_workorder")
FUNCTIONS = "/Microsoft.Dynamics.CRM."


@pytest.fixture
async def fake() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(demo_data()[0]) as dv:
        yield dv


def source_for(fake: FakeDataverse, **options: Any) -> DataverseRecordSource:
    return DataverseRecordSource(fake.url, None, options.pop("types", TYPES), **options)


@pytest.fixture
async def source(fake: FakeDataverse) -> AsyncIterator[DataverseRecordSource]:
    src = source_for(fake)
    yield src
    await src.close()


async def test_throttled_requests_wait_for_retry_after(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """A 429 is retried after the Retry-After it names, until Dataverse answers."""
    await source.record_type("incident")
    fake.throttle(2, retry_after="0.2")
    started = time.monotonic()
    record = await source.get_record("incident", CASE)
    assert record is not None and record.id == CASE
    assert time.monotonic() - started >= 0.4
    assert len(fake.calls("GET", f"incidents({CASE})")) == 3


async def test_throttling_is_retried_a_bounded_number_of_times(fake: FakeDataverse) -> None:
    """Under lasting throttling the source gives up after max_attempts with a message a user can read,
    and does not sleep through a Retry-After longer than it is willing to wait."""
    src = source_for(fake, max_attempts=3)
    await src.record_type("incident")
    fake.throttle(10, retry_after="0.01")
    with pytest.raises(GatewayError, match="busy"):
        await src.get_record("incident", CASE)
    assert len(fake.calls("GET", f"incidents({CASE})")) == 3
    fake.throttle(1, retry_after="3600")
    started = time.monotonic()
    with pytest.raises(GatewayError, match="busy"):
        await src.user(ALEX)
    assert time.monotonic() - started < 5
    await src.close()


async def test_transient_server_errors_on_reads_are_retried(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """502/503/504 on a GET is retried with backoff; the caller just gets the answer."""
    fake.fail(1, 503)
    assert (await source.team(next(iter(fake.security.team_members)))) is not None
    assert len(fake.calls("GET", "teams(")) == 2


async def test_unknown_rows_answer_none(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """404 from Dataverse means None: records, users and teams; an unknown table too."""
    missing = "00000000-0000-4000-8000-0000000000ff"
    assert await source.get_record("incident", missing) is None
    assert any(r.path == f"incidents({missing})" for r in fake.requests)  # it really asked
    assert await source.user(missing) is None
    assert await source.team(missing) is None
    assert await source.record_type("nosuchtable") is None
    assert await source.views("nosuchtable") == ()


async def test_non_guid_keys_never_reach_dataverse(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """Dataverse rejects non-GUID keys with 400; the source asks by number instead, or not at all."""
    assert await source.get_record("incident", "not-a-guid") is None
    assert await source.user("tier1") is None
    assert await source.team("tier1") is None
    assert await source.user_by_aad("00000000-0000-0000-0000-0000000000020") is None
    assert not [r.path for r in fake.requests if "not-a-guid)" in r.path or "tier1" in r.path]
    assert not fake.calls("GET", "systemusers")


async def test_metadata_and_views_are_cached(fake: FakeDataverse) -> None:
    """Metadata and views are read once and reused; with no cache lifetime every use reads them again (so the
    cache is what saves the requests). Names of configured types resolve without the full table catalog."""
    for ttl, loads in ((900.0, 1), (0.0, 6)):
        fake.requests.clear()
        src = source_for(fake, metadata_ttl=ttl)
        try:
            for _ in range(2):
                await src.record_type("case")
                await src.views("incident")
                await src.get_record("incident", CASE)
        finally:
            await src.close()
        entity_reads = [r for r in fake.calls("GET") if r.path == "EntityDefinitions(LogicalName='incident')"]
        view_reads = [r for r in fake.calls("GET", "savedqueries") if "'incident'" in r.query["$filter"]]
        assert (len(entity_reads), len(view_reads)) == (loads, loads)
        assert [r for r in fake.calls("GET") if r.path == "EntityDefinitions"] == []


async def test_every_read_has_select_and_asks_for_formatted_values(fake: FakeDataverse,
                                                                   source: DataverseRecordSource) -> None:
    """Every query and row read sends $select and Prefer odata.include-annotations (labels, lookup names)."""
    megan = await source.user_by_aad(MEGAN_AAD)
    assert megan
    case = await source.get_record("incident", "CAS-01234-Z9Y8X7")
    assert case
    await source.record_types()
    await source.users_by_email(["alexw@contoso.example"])
    await source.team(megan.teams[0])
    await source.lookup_user(case, ["primarycontactid", "ownerid"])
    await source.update_record(megan, case, "prioritycode", "Low")
    await source.add_timeline_chat(case, "19:x@thread.v2", megan, case_time())
    await source.touch_timeline_chat("incident", CASE, "19:x@thread.v2", "Megan Bowen", case_time())
    await source.get_record("msdyn_workorder", "WO-00042")  # alternate key read
    reads = [r for r in fake.calls("GET") if FUNCTIONS not in r.path]
    assert len(reads) > 20
    assert [r.path for r in reads if "$select" not in r.query] == []
    assert [r.path for r in fake.calls("GET") if "odata.include-annotations" not in r.headers.get("prefer", "")] == []
    assert fake.calls("GET", "msdyn_workorders(msdyn_name='WO-00042')")


def case_time() -> Any:
    from datetime import UTC, datetime
    return datetime(2026, 11, 30, 10, 0, tzinfo=UTC)


async def test_access_is_what_dataverse_says(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """Access comes from RetrievePrincipalAccess (sharing, hierarchy, field rules are Dataverse's business),
    even where ownership would suggest otherwise."""
    alex, case = await source.user(ALEX), await source.get_record("incident", CASE)
    assert alex and case
    assert await source.access(alex, case) == "write"
    fake.set_access(ALEX, "incident", CASE, "ReadAccess, AppendAccess")
    assert await source.access(alex, case) == "read"
    fake.set_access(ALEX, "incident", CASE, "None")
    assert await source.access(alex, case) == "none"
    call = fake.calls("GET", f"systemusers({ALEX})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)")[-1]
    assert call.query["@tid"] == "{'@odata.id':'incidents(" + CASE + ")'}"


async def test_roles_and_privileges_through_teams(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """DISC-01: a role given to a team gives its members the role and its privileges."""
    isaiah = await source.user(ISAIAH)
    assert isaiah and isaiah.roles == ("Field Technician",)
    assert await source.privileges(isaiah) == frozenset()
    fake.grant_team_role(isaiah.teams[0], "CSR Manager")
    fresh = source_for(fake)
    isaiah = await fresh.user(ISAIAH)
    assert isaiah and isaiah.roles == ("Field Technician", "CSR Manager")
    assert await fresh.privileges(isaiah) == {"disconnectTeamsChat"}
    await fresh.close()


async def test_a_type_not_yet_configured_is_found_by_name(fake: FakeDataverse) -> None:
    """RT-01: any table the CRM has can be used: found by display or collection name; the configured list
    does not grow from what agents type."""
    src = source_for(fake, types=("incident",))
    assert [t.logical_name for t in await src.record_types()] == ["incident"]
    rt = await src.record_type("Work Order")
    assert rt and rt.logical_name == "msdyn_workorder" and rt.number == "msdyn_name"
    order = await src.get_record(rt.logical_name, "WO-00042")
    assert order and order.values["msdyn_priority"] == "Urgent"
    assert (await src.record_type("work orders")) == rt
    assert [t.logical_name for t in await src.record_types()] == ["incident"]
    await src.close()


async def test_view_columns_follow_layoutxml_including_linked_columns(fake: FakeDataverse,
                                                                     source: DataverseRecordSource) -> None:
    """A view's columns are its layoutxml cells in order (not the fetchxml's), linked ones as alias.attribute."""
    fake.add_view("incident", "Cases with contact email", ["title", "a_contact.emailaddress1", "ticketnumber"])
    view = next(v for v in await source.views("incident") if v.name == "Cases with contact email")
    assert view.columns == ("title", "a_contact.emailaddress1", "ticketnumber") and not view.quick_find
    assert view.id and view.id != view.name
    card_view = next(r for r in fake.rows("savedquery") if r["name"] == "Case introduction message")
    card_view["querytype"] = 8192  # whatever type the org gave the out-of-box card view, it is offered
    fresh = source_for(fake)
    assert "Case introduction message" in {v.name for v in await fresh.views("incident")}
    assert "Case Lookup View" not in {v.name for v in await fresh.views("incident")}
    await fresh.close()


async def test_update_writes_with_patch_and_checks_choices(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """`set` PATCHes the typed value with If-Match: * (never an upsert); a wrong choice or a lookup is refused
    with the allowed values before anything is sent; a deleted record is reported, not recreated."""
    megan, case = await source.user(MEGAN), await source.get_record("incident", CASE)
    assert megan and case
    with pytest.raises(ValueError, match="Critical, High, Normal, Low"):
        await source.update_record(megan, case, "prioritycode", "Urgent")
    with pytest.raises(ValueError, match="cannot be changed"):
        await source.update_record(megan, case, "customerid", "Fabrikam")
    assert not fake.calls("PATCH")
    event = await source.update_record(megan, case, "prioritycode", "critical")
    assert event.changed == {"prioritycode": ("Normal", "Critical")}
    patch = fake.calls("PATCH")[-1]
    assert (patch.path, patch.json, patch.headers["if-match"]) == (f"incidents({CASE})", {"prioritycode": 1}, "*")
    fake.remove("incident", CASE)
    with pytest.raises(LookupError):
        await source.update_record(megan, case, "prioritycode", "Low")
    assert CASE not in {r["incidentid"] for r in fake.rows("incident")}


async def test_timeline_chat_is_a_chat_activity_regarding_the_record(fake: FakeDataverse,
                                                                      source: DataverseRecordSource) -> None:
    """SYNC-02: the chat activity binds regarding to the record and names the Teams chat, no message text."""
    megan, case = await source.user(MEGAN), await source.get_record("incident", CASE)
    assert megan and case
    await source.add_timeline_chat(case, "19:abc@thread.v2", megan, case_time())
    post = fake.calls("POST", "chats")[-1].json
    assert post["regardingobjectid_incident_chat@odata.bind"] == f"/incidents({CASE})"
    assert post["linkedby@odata.bind"] == f"/systemusers({MEGAN})"
    assert (post["teamschatid"], post["linkedon"]) == ("19:abc@thread.v2", "2026-11-30T10:00:00+00:00")
    assert "body" not in post and "message" not in post


async def test_timeline_survives_platform_managed_link_columns(fake: FakeDataverse,
                                                               source: DataverseRecordSource) -> None:
    """Where Dataverse refuses linkedby/linkedon (documented as internal), the activity is still created and
    its description says who connected the chat and when."""
    fake.refuse_columns("chat", "linkedby", "linkedon")
    megan, case = await source.user(MEGAN), await source.get_record("incident", CASE)
    assert megan and case
    await source.add_timeline_chat(case, "19:abc@thread.v2", megan, case_time())
    [chat] = fake.rows("chat")
    assert "linkedby" not in chat and chat["teamschatid"] == "19:abc@thread.v2"
    assert chat["description"] == "Connected by Megan Bowen on 2026-11-30T10:00:00+00:00."
    assert len(fake.calls("POST", "chats")) == 2


async def test_a_bearer_token_is_sent_when_there_is_one(fake: FakeDataverse) -> None:
    """With a token source every request carries it; without one (DATAVERSE_AUTH=none) none is sent."""
    fake.token = "t0ken"

    async def token() -> str:
        return "t0ken"

    src = DataverseRecordSource(fake.url, token, TYPES)
    assert await src.get_record("incident", CASE) is not None
    await src.close()
    fake.token = None
    fake.requests.clear()
    anonymous = source_for(fake)
    assert await anonymous.user(ALEX) is not None
    assert all("authorization" not in r.headers for r in fake.requests)
    await anonymous.close()


async def test_resolution_of_a_closed_case(fake: FakeDataverse, source: DataverseRecordSource) -> None:
    """Issue 15's closing card: the newest incidentresolution of the case (subject, description), read with one
    documented OData query; None when the case has none, and for other record types."""
    assert await source.resolution("incident", CASE) is None
    for subject, description, at in (("Old try", "", "2026-12-01T09:00:00Z"),
                                      ("Printer driver rolled back", "Floor 2 prints again.", "2026-12-02T09:00:00Z")):
        async with aiohttp.ClientSession() as http:
            body = {"subject": subject, "description": description, "createdon": at,
                    "incidentid@odata.bind": f"/incidents({CASE})"}
            async with http.post(f"{fake.url}/api/data/v9.2/incidentresolutions", json=body) as resp:
                assert resp.status in (201, 204), await resp.text()
    assert await source.resolution("incident", CASE) == ("Printer driver rolled back", "Floor 2 prints again.")
    query = fake.calls("GET", "incidentresolutions")[-1].query
    assert query["$filter"] == f"_incidentid_value eq {CASE}" and query["$top"] == "1"
    assert await source.resolution("account", CASE) is None
