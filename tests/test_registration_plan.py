"""domain.registrations, with no server: what the settings ask Dataverse to register, how features' needs merge,
and the plan that makes the existing steps match."""
from __future__ import annotations

from dataclasses import replace

from domain.registrations import ExistingStep, StepNeed, desired_steps, notification_needs, plan
from domain.settings import Settings, defaults_for

NAMES = {"incident": "title", "account": "name"}


def settings_with(**types: dict) -> Settings:
    base = Settings()
    for name, changes in types.items():
        base = base.with_type(name, replace(base.record_types.get(name) or defaults_for(name), **changes))
    return base


def test_notifications_need_one_update_step_per_notifying_type():
    s = settings_with(account={"notify": True, "watched": ("telephone1", "name")})
    steps = {d.name: d for d in desired_steps(s, NAMES)}
    assert set(steps) == {"connected-chats: Update of incident", "connected-chats: Update of account"}
    assert steps["connected-chats: Update of account"].filtering == ("name", "telephone1")
    assert steps["connected-chats: Update of incident"].images == ("prioritycode", "statecode", "statuscode", "title")
    off = settings_with(incident={"notify": False})
    assert desired_steps(off, NAMES) == []
    disabled = settings_with(incident={"enabled": False})
    assert desired_steps(disabled, NAMES) == []


def test_other_features_extend_and_merge_per_table_and_message():
    """Issue 15/16 style needs: more Update columns on cases merge into the same step; a Create step with every
    column is its own step; an Update need for any column wins over a list."""
    def lifecycle(settings, names):  # type: ignore[no-untyped-def]
        yield StepNeed("incident", "Update", ("ownerid", "statecode"), ("ownerid",), "case lifecycle")
        yield StepNeed("incident", "Create", purpose="case intake")
        yield StepNeed("incidentresolution", "Create", purpose="resolution text")

    steps = {d.name: d for d in desired_steps(Settings(), NAMES, (notification_needs, lifecycle))}
    update = steps["connected-chats: Update of incident"]
    assert update.filtering == ("ownerid", "prioritycode", "statecode", "statuscode")
    assert update.images == ("ownerid", "prioritycode", "statecode", "statuscode", "title")
    assert update.purposes == ("key-update notifications", "case lifecycle")
    assert steps["connected-chats: Create of incident"].filtering is None
    assert "connected-chats: Create of incidentresolution" in steps

    def anything(settings, names):  # type: ignore[no-untyped-def]
        yield StepNeed("incident", "Update", None)
    (merged,) = desired_steps(Settings(), NAMES, (notification_needs, anything))
    assert merged.filtering is None


def test_plan_creates_updates_removes_and_drops_duplicates():
    (want,) = desired_steps(Settings(), NAMES)
    same = ExistingStep("1", want.name, "incident", "Update", ("statuscode", "statecode", "prioritycode"),
                        {0: want.images, 1: want.images})
    assert plan([want], [same]).in_sync
    changed = replace(same, filtering=("prioritycode",))
    stale = ExistingStep("2", "connected-chats: Update of account", "account", "Update", ("name",), {})
    twin = replace(same, id="3")
    p = plan([want], [changed, stale, twin])
    assert [e.id for e, _ in p.update] == ["1"] and [e.id for e in p.remove] == ["2", "3"] and not p.create
    assert any("differs" in line for line in p.describe()) and any("not needed" in line for line in p.describe())
    assert plan([want], []).create == [want]
