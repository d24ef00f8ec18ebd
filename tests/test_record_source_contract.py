"""One behaviour suite for every record source: the local directory and Dataverse (against the fake Dataverse
seeded from the same directory) must give the same answers through domain.ports.RecordSource."""
from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest

from domain.model import Owner, User
from domain.ports import RecordSource
from records import open_source
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data

PUBLIC = "https://bot.example"
CASE = "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21"  # printer outage, owned by Alex
CASE_TEAM = "e1a2b3c4-0002-4000-8000-000000001002"  # owned by team tier1
ALEX, MEGAN = "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21", "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
ADELE, ISAIAH = "3c1d2e4f-5a6b-ef11-8409-000d3a4b9c22", "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"
PATTI, LYNNE = "5e3f4a6b-7c8d-ef11-8409-000d3a4b9c24", "6f4a5b7c-8d9e-ef11-8409-000d3a4b9c25"
DIEGO, FORMER = "75c2dd85-e89e-e711-8122-000d3aa2331c", "8a6b7c9d-0e1f-ef11-8409-000d3a4b9c27"
MEGAN_AAD, FORMER_AAD = "7faf8ab2-3d56-4244-b585-20c8a42ed2b8", "c5b2d3e4-f5a6-4b7c-9d8e-0f1a2b3c4d5e"
AT = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)


@dataclass
class Env:
    source: RecordSource
    data: dict[str, Any]
    ids: dict[str, str]  # demo id -> the GUID both sources use

    def id(self, demo_id: str) -> str:
        return self.ids.get(demo_id, demo_id)

    async def user(self, user_id: str) -> User:
        user = await self.source.user(self.id(user_id))
        assert user is not None, user_id
        return user


@pytest.fixture(params=["local", "dataverse"])
async def env(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Env]:
    data, ids = demo_data()
    if request.param == "local":
        path = tmp_path / "directory.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        source = open_source(f"local:{path}", PUBLIC)
        yield Env(source, data, ids)
        return
    async with FakeDataverse(data) as fake:
        source = open_source(f"dataverse:{fake.url}", PUBLIC, "none", ("msdyn_workorder", "msdyn_externalorder"))
        try:
            yield Env(source, data, ids)
        finally:
            await source.close()  # type: ignore[attr-defined]


def _name_of(data: dict[str, Any], ref: dict[str, Any]) -> str:
    if ref["type"] == "systemuser":
        return next(u["name"] for u in data["users"] if u["id"] == ref["id"])
    if ref["type"] == "team":
        return next(t["name"] for t in data["teams"] if t["id"] == ref["id"])
    row = next(r for r in data["records"][ref["type"]] if r["id"] == ref["id"])
    return str(row[data["recordTypes"][ref["type"]]["primaryName"]])


async def test_type_names_resolve_alike(env: Env) -> None:
    """Every name the directory gives a type (logical, display, aliases) finds it, in any case; nonsense does not."""
    for logical, raw in env.data["recordTypes"].items():
        for name in (logical, raw["displayName"], *raw.get("aliases", [])):
            for variant in (name, name.upper(), f"  {name.title()} "):
                rt = await env.source.record_type(variant)
                assert rt is not None and rt.logical_name == logical, (variant, rt)
    assert await env.source.record_type("spaceship") is None
    assert await env.source.record_type("") is None


async def test_record_types_match_the_directory(env: Env) -> None:
    """Types carry the directory's names, number column, virtual/update-event flags and attributes."""
    assert {t.logical_name for t in await env.source.record_types()} == set(env.data["recordTypes"])
    for logical, raw in env.data["recordTypes"].items():
        rt = await env.source.record_type(logical)
        assert rt is not None
        assert (rt.display_name, rt.primary_name, rt.number) == (raw["displayName"], raw["primaryName"],
                                                                 raw.get("number"))
        assert (rt.virtual, rt.update_events) == (bool(raw.get("virtual")), bool(raw.get("updateEvents", True)))
        for name, a in raw["attributes"].items():
            attr = rt.attributes[name]
            assert (attr.type, attr.display_name, attr.targets) == (a["type"], a["displayName"],
                                                                    tuple(a.get("targets", ())))
            if a.get("options"):  # a directory may leave a choice's options out; Dataverse always lists them
                assert attr.options == tuple(a["options"])


async def test_unsupported_attribute_types_are_flagged(env: Env) -> None:
    """CARD-03/NOTIFY-03: image, file, party list and multi-select columns are skipped on cards; integers can't
    be watched; ordinary columns can be both."""
    case, account = await env.source.record_type("incident"), await env.source.record_type("account")
    assert case and account
    for name in ("entityimage", "attachment", "customers"):
        assert not case.attributes[name].card_supported and not case.attributes[name].watch_supported, name
    assert not account.attributes["msdyn_tags"].card_supported
    assert case.attributes["numberofchildincidents"].card_supported
    assert not case.attributes["numberofchildincidents"].watch_supported
    assert case.attributes["prioritycode"].card_supported and case.attributes["prioritycode"].watch_supported


async def test_views_keep_their_column_order(env: Env) -> None:
    """Each type's views have the directory's names, columns in order, and quick-find flag (CARD-02, CARD-06)."""
    for logical, raw in env.data["recordTypes"].items():
        views = {v.name: (v.columns, v.quick_find) for v in await env.source.views(logical)}
        assert views == {v["name"]: (tuple(v["columns"]), bool(v.get("quickFind"))) for v in raw["views"]}
    assert await env.source.views("spaceship") == ()


async def test_get_record_by_id_and_by_number(env: Env) -> None:
    """A record is found by id or by number in any case, with display values (labels, lookup names) and owner."""
    raw = next(r for r in env.data["records"]["incident"] if r["id"] == CASE)
    by_id = await env.source.get_record("incident", CASE.upper())
    by_number = await env.source.get_record("incident", "cas-01234-z9y8x7")
    assert by_id is not None and by_number is not None and by_id.id == by_number.id == CASE
    assert (by_id.name, by_id.number) == (raw["title"], "CAS-01234-Z9Y8X7")
    assert by_id.owner == Owner("systemuser", ALEX, "Alex Wilber")
    expected = {k: _name_of(env.data, v) if isinstance(v, dict) else str(v) for k, v in raw.items() if k != "id"}
    assert {k: v for k, v in by_id.values.items() if v} == expected
    assert by_id.values["prioritycode"] == "Normal" and by_id.values["customerid"] == "Contoso Ltd"
    assert CASE in by_id.url
    team_case = await env.source.get_record("incident", CASE_TEAM)
    assert team_case and team_case.owner == Owner("team", env.id("tier1"), "Tier 1 Support")
    article = await env.source.get_record("knowledgearticle", "ka-01010")
    assert article and article.id == env.id("k0000001-0000-4000-8000-000000000001")
    order = await env.source.get_record("msdyn_workorder", "wo-00042")
    assert order and order.values["msdyn_servicerequest"] == raw["title"]


async def test_missing_records_are_none(env: Env) -> None:
    """Unknown ids, unknown numbers, types without a number column and unknown types all answer None."""
    assert await env.source.get_record("incident", "00000000-0000-4000-8000-0000000000ff") is None
    assert await env.source.get_record("incident", "CAS-99999-NOPE") is None
    assert await env.source.get_record("contact", "Nestor Wilke") is None
    assert await env.source.get_record("incident", " ") is None
    assert await env.source.get_record("spaceship", CASE) is None


async def test_users_by_entra_id_id_and_email(env: Env) -> None:
    """Users come back with roles and teams; disabled users are returned marked disabled; unknown ids are None."""
    megan = await env.source.user_by_aad(MEGAN_AAD.upper())
    assert megan and (megan.id, megan.name, megan.email) == (MEGAN, "Megan Bowen", "meganb@contoso.example")
    assert (megan.roles, megan.teams, megan.disabled) == (("CSR Manager",), (env.id("tier1"),), False)
    former = await env.source.user_by_aad(FORMER_AAD)
    assert former and former.disabled and former.id == FORMER
    alex = await env.source.user_by_aad(env.id("00000000-0000-0000-0000-0000000000020"))
    assert alex and alex.id == ALEX
    assert await env.source.user_by_aad("11111111-2222-4333-8444-555555555555") is None
    assert await env.source.user_by_aad("not-a-guid") is None
    assert (await env.user(DIEGO)).name == "Diego Siciliani"
    assert await env.source.user("00000000-0000-4000-8000-0000000000ff") is None
    found = await env.source.users_by_email(["MEGANB@contoso.example", "nobody@contoso.example",
                                             "alexw@contoso.example"])
    assert [u.id for u in found] == [MEGAN, ALEX]


async def test_teams_have_members_and_administrator(env: Env) -> None:
    """A team lists its members and administrator (suggested contacts for team-owned records)."""
    team = await env.source.team(env.id("tier1"))
    assert team and (team.name, team.administrator) == ("Tier 1 Support", MEGAN)
    assert set(team.members) == {ALEX, MEGAN, DIEGO}
    assert await env.source.team("00000000-0000-4000-8000-0000000000ff") is None


async def test_access_levels(env: Env) -> None:
    """Owner and owning-team members write; otherwise roles decide; disabled users have no access."""
    order_team = env.id("w0000002-0000-4000-8000-000000000002")
    cases = [(ALEX, "incident", CASE, "write"),  # owner
             (MEGAN, "incident", CASE_TEAM, "write"),  # owning team member
             (ALEX, "msdyn_workorder", order_team, "write"),  # team member, although the role only reads
             (LYNNE, "msdyn_workorder", order_team, "read"),  # not a member; role reads
             (ADELE, "msdyn_workorder", order_team, "none"),  # no role access, not a member
             (ADELE, "incident", CASE, "read"), (ADELE, "account", "a0000001-0000-4000-8000-000000000001", "write"),
             (PATTI, "knowledgearticle", env.id("k0000001-0000-4000-8000-000000000001"), "write"),
             (FORMER, "incident", CASE, "none")]  # disabled
    for user_id, rtype, rid, expected in cases:
        record = await env.source.get_record(rtype, rid)
        assert record is not None, rid
        assert await env.source.access(await env.user(user_id), record) == expected, (user_id, rtype, rid)


async def test_privileges_come_from_roles(env: Env) -> None:
    """DISC-01: privileges are the union of the user's roles' privileges (a disabled user keeps them, but has
    no access to any record)."""
    assert await env.source.privileges(await env.user(ALEX)) == {"disconnectTeamsChat"}
    assert await env.source.privileges(await env.user(FORMER)) == {"disconnectTeamsChat"}
    assert await env.source.privileges(await env.user(PATTI)) == {"disconnectTeamsChat", "administerTeamsChat"}
    assert await env.source.privileges(await env.user(ADELE)) == frozenset()


async def test_lookup_user_follows_the_chain(env: Env) -> None:
    """SUG rules: a chain of lookups ends at a user, or yields None (team owner, non-user end, not a lookup)."""
    case = await env.source.get_record("incident", CASE)
    team_case = await env.source.get_record("incident", CASE_TEAM)
    order = await env.source.get_record("msdyn_workorder", "WO-00042")
    assert case and team_case and order
    for record, path, expected in [(case, ["ownerid"], ALEX), (case, ["primarycontactid", "ownerid"], ALEX),
                                   (order, ["msdyn_servicerequest", "ownerid"], ALEX),
                                   (team_case, ["ownerid"], None), (case, ["customerid"], None),
                                   (case, ["title"], None), (case, ["nosuchfield"], None)]:
        user = await env.source.lookup_user(record, path)
        assert (user.id if user else None) == expected, path


async def test_update_record_reports_old_and_new_values(env: Env) -> None:
    """`set` writes one field and returns the change with display values; the record then shows the new value."""
    megan = await env.user(MEGAN)
    case = await env.source.get_record("incident", CASE)
    assert case
    event = await env.source.update_record(megan, case, "prioritycode", "High")
    assert (event.record_type, event.record_id, event.changed_by) == ("incident", CASE, "Megan Bowen")
    assert event.changed == {"prioritycode": ("Normal", "High")}
    event = await env.source.update_record(megan, case, "title", "Printers back on floor 2")
    assert event.changed == {"title": ("Contoso - printer outage in building 4", "Printers back on floor 2")}
    after = await env.source.get_record("incident", CASE)
    assert after and after.values["prioritycode"] == "High" and after.name == "Printers back on floor 2"


async def test_timeline_add_touch_unlink(env: Env) -> None:
    """SYNC-02/03: connect adds a linked chat entry, traffic updates the last sender, disconnect unlinks it;
    chats never added are left alone."""
    case = await env.source.get_record("incident", CASE)
    assert case
    await env.source.add_timeline_chat(case, "19:abc@thread.v2", await env.user(ALEX), AT)
    await env.source.touch_timeline_chat("incident", CASE, "19:abc@thread.v2", "Megan Bowen", AT)
    await env.source.touch_timeline_chat("incident", CASE, "19:never-synced@thread.v2", "Megan Bowen", AT)
    items = await env.source.timeline_chats(case)
    assert [(i.chat_id, i.linked_by, i.linked, i.last_sender, i.last_message_on) for i in items] == \
        [("19:abc@thread.v2", "Alex Wilber", True, "Megan Bowen", AT)]
    await env.source.unlink_timeline_chat(case, "19:abc@thread.v2", AT)
    await env.source.touch_timeline_chat("incident", CASE, "19:abc@thread.v2", "Diego Siciliani", AT)
    assert [(i.linked, i.last_sender) for i in await env.source.timeline_chats(case)] == [(False, "Megan Bowen")]


async def test_activity_owners_are_the_users_who_logged_activity(env: Env) -> None:
    """SUG-02: the owners of activities regarding a record (the demo's email on the printer case is Alex's);
    a record with none has nobody. Dataverse reads them from activitypointers."""
    printer = await env.source.get_record("incident", "CAS-01234-Z9Y8X7")
    quiet = await env.source.get_record("incident", "CAS-01002-P4Q9T1")
    assert printer and quiet
    assert list(await env.source.activity_owners(printer)) == [ALEX]
    assert list(await env.source.activity_owners(quiet)) == []
