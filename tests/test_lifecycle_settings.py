"""Issue 15's lifecycle policy in the settings: defaults per type, the rules (domain.lifecycle) and the settings
API through real HTTP (400 naming the field, nothing saved), plus what Dataverse must be registered to send."""
from __future__ import annotations

import copy
from dataclasses import replace

from domain.lifecycle import registrations, registrations_for
from domain.lifecycle_policy import CASE_LIFECYCLE, OFF, LifecyclePolicy
from domain.model import Attribute, RecordType
from domain.settings import RecordTypeSettings, Settings, from_dict, to_dict
from domain.settings_rules import validate
from tests.admin_support import Tab
from tests.teams import GROUP, PATTI
from tests.test_admin_api import entra, tab  # noqa: F401  (fixtures)

ATTRS = {"name": Attribute("name", "String", "Name"), "ownerid": Attribute("ownerid", "Owner", "Owner"),
         "statecode": Attribute("statecode", "State", "Status", options=("Active", "Inactive"))}
THING = RecordType("thing", "Thing", "name", attributes=ATTRS)
NO_OWNER = replace(THING, logical_name="ownerless", display_name="Ownerless",
                   attributes={"name": ATTRS["name"], "statecode": ATTRS["statecode"]})
VIRTUAL = replace(THING, logical_name="vthing", display_name="Virtual thing", virtual=True)
TYPES = {t.logical_name: t for t in (THING, NO_OWNER, VIRTUAL)}


def test_defaults_case_on_others_off_and_round_trip():
    """Case gets the issue's defaults (notice, button, personal message, closing card, reopen; no auto-add, no
    disconnect); other types are off; the policy survives to_dict/from_dict, and old documents get defaults."""
    s = Settings()
    assert s.record_types["incident"].lifecycle == CASE_LIFECYCLE
    assert CASE_LIFECYCLE.reassign_add == "button" and not CASE_LIFECYCLE.close_disconnect
    assert all(s.record_types[t].lifecycle == OFF for t in ("account", "contact", "email"))
    changed = s.with_type("incident", replace(s.record_types["incident"],
                                              lifecycle=replace(CASE_LIFECYCLE, reassign_add="auto")))
    assert from_dict(to_dict(changed)) == changed
    old = to_dict(s)
    del old["record_types"]["incident"]["lifecycle"]
    assert from_dict(old).record_types["incident"].lifecycle == CASE_LIFECYCLE


def test_rules_name_the_setting():
    on = LifecyclePolicy(reassign_notice=True, close_notice=True)
    ok = Settings(record_types={"thing": RecordTypeSettings(lifecycle=on)})
    assert validate(ok, TYPES) == []
    problems = validate(Settings(record_types={"ownerless": RecordTypeSettings(lifecycle=on)}), TYPES)
    assert [p.field for p in problems] == ["record_types.ownerless.lifecycle.reassign_notice"]
    problems = validate(Settings(record_types={"vthing": RecordTypeSettings(lifecycle=on)}), TYPES)
    assert "no update events" in problems[0].message
    auto = RecordTypeSettings(join_chat=False, lifecycle=LifecyclePolicy(reassign_add="auto"))
    problems = validate(Settings(record_types={"thing": auto}), TYPES)
    assert [p.field for p in problems] == ["record_types.thing.lifecycle.reassign_add"]
    assert "Join" in problems[0].message


def test_registrations_for_issue_14():
    """What Dataverse must send: Update filtered to the followed columns, with images; nothing when off."""
    regs = registrations({"thing": CASE_LIFECYCLE, "ownerless": OFF}, TYPES)
    assert [(r.entity, r.message, r.columns) for r in regs] == [("thing", "Update", ("ownerid", "statecode"))]
    settings = Settings(record_types={"thing": RecordTypeSettings(lifecycle=CASE_LIFECYCLE),
                                      "ownerless": RecordTypeSettings(enabled=False, lifecycle=CASE_LIFECYCLE)})
    assert registrations_for(settings, TYPES) == regs  # a disabled type needs nothing
    only_owner = registrations({"thing": LifecyclePolicy(reassign_notice=True)}, TYPES)
    assert only_owner[0].columns == ("ownerid",) == only_owner[0].image_columns


BAD = {
    "text for a toggle": ({"close_notice": "yes"}, "close_notice", "true or false"),
    "unknown add mode": ({"reassign_add": "always"}, "reassign_add", "one of button, auto, off"),
    "unknown setting": ({"reassign_everyone": True}, "reassign_everyone", "not a lifecycle setting"),
}


async def test_settings_api_saves_and_refuses_lifecycle(tab: Tab):  # noqa: F811
    """The policy is read and written through /api/settings; bad input is 400 naming the field, nothing saved."""
    body, etag = await tab.settings(PATTI)
    assert body["record_types"]["incident"]["lifecycle"]["reassign_add"] == "button"
    for change, field, words in BAD.values():
        bad = copy.deepcopy(body)
        bad["record_types"]["incident"]["lifecycle"].update(change)
        reply = await tab.put_settings(PATTI, bad, etag)
        assert reply.status == 400, reply.body
        assert reply.body["field"] == f"record_types.incident.lifecycle.{field}", reply.body
        assert words in reply.body["error"]
    no_join = copy.deepcopy(body)
    no_join["record_types"]["incident"].update(join_chat=False)
    no_join["record_types"]["incident"]["lifecycle"].update(reassign_add="auto")
    reply = await tab.put_settings(PATTI, no_join, etag)
    assert reply.status == 400 and reply.body["field"] == "record_types.incident.lifecycle.reassign_add"
    assert await tab.settings(PATTI) == (body, etag)
    good = copy.deepcopy(body)
    good["record_types"]["incident"]["lifecycle"].update(reassign_add="auto", close_disconnect=True)
    reply = await tab.put_settings(PATTI, good, etag)
    assert reply.status == 200, reply.body
    assert reply.body["record_types"]["incident"]["lifecycle"]["close_disconnect"] is True


async def test_lifecycle_events_are_filterable_in_the_audit(tab: Tab):  # noqa: F811
    """Resolving a connected case with `set` audits closed_notice for its chat; the audit API filters on it."""
    await tab.bot.say("connect case CAS-01234-Z9Y8X7", conv=GROUP)
    await tab.bot.say("set case CAS-01234-Z9Y8X7 status Resolved", conv=GROUP)
    events = (await tab.get("/api/audit?event=closed_notice", PATTI)).body["events"]
    assert [(e["event"], e["chat_id"], e["record_type"]) for e in events] == [("closed_notice", GROUP, "incident")]
    assert all(e["event"] == "connect" for e in (await tab.get("/api/audit?event=connect", PATTI)).body["events"])


def test_reconciler_contributor_merges_with_key_updates():
    """Issue 14's reconciler gets one Update step for case: the watched columns and the lifecycle's, with images."""
    from domain.lifecycle import lifecycle_needs
    from domain.registrations import DEFAULT_CONTRIBUTORS, desired_steps

    steps = desired_steps(Settings(), {"incident": "title"}, (*DEFAULT_CONTRIBUTORS, lifecycle_needs))
    case = next(s for s in steps if s.table == "incident")
    assert case.filtering == ("ownerid", "prioritycode", "statecode", "statuscode")
    assert {"ownerid", "statecode", "statuscode", "title"} <= set(case.images)
    assert "record lifecycle" in case.purposes
    assert [s.table for s in steps if "record lifecycle" in s.purposes] == ["incident"]  # other types are off
