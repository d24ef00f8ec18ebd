"""domain.settings_rules on hand-built record types: the cases the demo directory has no type for."""
from __future__ import annotations

from dataclasses import replace

from domain.model import Attribute, RecordType, View
from domain.settings import RecordTypeSettings, Settings
from domain.settings_rules import Problem, SettingsInvalid, parse, sync_change_problem, validate

ATTRS = {"name": Attribute("name", "String", "Name"), "status": Attribute("status", "Picklist", "Status")}
PLAIN = RecordType("thing", "Thing", "name", attributes=ATTRS, views=(View("All", ("name",)),))
VIRTUAL = replace(PLAIN, logical_name="vthing", display_name="Virtual thing", virtual=True)
NO_EVENTS = replace(PLAIN, logical_name="quiet", display_name="Quiet thing", update_events=False)
TYPES = {t.logical_name: t for t in (PLAIN, VIRTUAL, NO_EVENTS)}


def only(name: str, rts: RecordTypeSettings) -> Settings:
    return Settings(record_types={name: rts})


def test_virtual_and_eventless_types_cannot_notify():
    """NOTIFY-03: notify on a virtual table or one without update events names the notify field."""
    watch = RecordTypeSettings(notify=True, watched=("status",))
    assert validate(only("thing", watch), TYPES) == []
    for name in ("vthing", "quiet"):
        problems = validate(only(name, watch), TYPES)
        assert [p.field for p in problems] == [f"record_types.{name}.notify"]
    assert validate(only("vthing", RecordTypeSettings(notify=False)), TYPES) == []


def test_profiles_default_name_and_shared_members():
    """EN-03: "Default" is reserved, members need a listed profile, and a user is in one profile only."""
    s = Settings(record_types={}, profiles={"Default": True, "Night": False, "Day": True},
                 profile_members={"Night": ("u1",), "Day": ("u1",), "Ghost": ("u2",)})
    fields = {p.field for p in validate(s, TYPES)}
    assert fields == {"profiles.Default", "profile_members.Day", "profile_members.Ghost"}


def test_parse_reports_every_shape_problem_and_empty_view_means_default():
    """Shape problems are all listed at once; an empty view string is the type's default view."""
    try:
        parse({"all_apps": "yes", "record_types": {"thing": {"notify": 1, "watched": "status"}}}, TYPES)
    except SettingsInvalid as exc:
        assert {p.field for p in exc.problems} == {"all_apps", "record_types.thing.notify",
                                                    "record_types.thing.watched"}
    else:
        raise AssertionError("accepted a malformed document")
    assert parse({"record_types": {"thing": {"view": ""}}}, TYPES).record_types["thing"].view is None


def test_timeline_sync_change_needs_global_admin():
    """SYNC-01: changing timeline sync either way needs a global admin; leaving it alone does not."""
    off, on = Settings(), Settings(timeline_sync=True)
    assert sync_change_problem(off, on, global_admin=False) == Problem(
        "timeline_sync", "only a Microsoft Entra global administrator can change timeline sync")
    assert sync_change_problem(on, off, global_admin=False) is not None
    assert sync_change_problem(off, on, global_admin=True) is None
    assert sync_change_problem(on, on, global_admin=False) is None
