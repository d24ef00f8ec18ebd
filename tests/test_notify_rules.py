"""The pure notification rules (domain/notifications.py), the webhook body reader and the pacing windows."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.model import Attribute, ChangeEvent, RecordType
from domain.notifications import UNKNOWN, Update, coalesce, display_text, validate_notify, watched_changes
from domain.settings import CASE_DEFAULTS, RecordTypeSettings
from notify.pacing import CONVERSATION, Window
from notify.remote_context import BadPayload, Ref, dedupe_key, parse
from tests.notify_helpers import sample_body

CASE_TYPE = RecordType("incident", "Case", "title", attributes={
    "prioritycode": Attribute("prioritycode", "Picklist", "Priority"),
    "statecode": Attribute("statecode", "State", "Status"),
    "statuscode": Attribute("statuscode", "Status", "Status Reason"),
    "description": Attribute("description", "Memo", "Description"),
    "customers": Attribute("customers", "PartyList", "Customers"),
    "entityimage": Attribute("entityimage", "Image", "Entity Image"),
    "attachment": Attribute("attachment", "File", "Attachment"),
    "numberofchildincidents": Attribute("numberofchildincidents", "Integer", "Child Cases"),
    "msdyn_tags": Attribute("msdyn_tags", "MultiSelectPicklist", "Tags"),
})
AT = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)


def event(**changed: tuple[str, str]) -> ChangeEvent:
    return ChangeEvent("e1", "incident", "r1", dict(changed), "Alex", AT)


def test_only_watched_changed_fields_in_admin_order():
    """NOTIFY-02: watched fields that changed, labelled, in the admin's order; unwatched and unchanged dropped."""
    changes = watched_changes(event(statuscode=("In Progress", "On Hold"), prioritycode=("Normal", "High"),
                                    description=("a", "b"), statecode=("Active", "Active")),
                              CASE_TYPE, CASE_DEFAULTS)
    assert [(c.label, c.old, c.new) for c in changes] == [("Priority", "Normal", "High"),
                                                          ("Status Reason", "In Progress", "On Hold")]


def test_notify_off_or_unconfigured_gives_nothing():
    """NOTIFY-01: notify off (or no settings) means no changes at all."""
    e = event(prioritycode=("Normal", "High"))
    assert watched_changes(e, CASE_TYPE, RecordTypeSettings(notify=False, watched=("prioritycode",))) == []
    assert watched_changes(e, CASE_TYPE, None) == []


def test_coalesce_keeps_first_old_and_every_later_value():
    """Quick successive changes merge into one card: per field first old -> each later value; authors listed."""
    def upd(by: str, minutes: int, **ch: tuple[str, str]) -> Update:
        from domain.model import FieldChange
        return Update("incident", "r1", "Case", "Printer", "u", tuple(FieldChange(k, k.title(), *v)
                                                                          for k, v in ch.items()),
                      by, AT + timedelta(minutes=minutes))
    merged = coalesce([upd("Alex", 0, priority=("Normal", "High")),
                       upd("Megan", 1, priority=("High", "Critical"), status=("Active", "Resolved")),
                       upd("Alex", 2, priority=("Critical", "Normal"))])
    assert [(c.attribute, c.old, c.new) for c in merged.changes] == [
        ("priority", "Normal", "High → Critical → Normal"), ("status", "Active", "Resolved")]
    assert (merged.changed_by, merged.changed_at) == ("Alex, Megan", AT + timedelta(minutes=2))
    with pytest.raises(ValueError):
        coalesce([])


@pytest.mark.parametrize("raw,shown", [
    ('<p>Hello <b>world</b></p><img src="x.png">', "Hello world\n[image]"),
    ("<div>a<br>b</div><style>p{}</style><script>x()</script>", "a\nb"),
    ("<p>unclosed <i>tag", "unclosed tag"),
    ("5 < 6 and 7 > 3", "5 < 6 and 7 > 3"),
    ("Tom &amp; Jerry", "Tom & Jerry"),
    ("<img src=a><img src=b>", "[image] [image]"),
    (None, ""),
])
def test_rich_text_shows_words_and_image_placeholder(raw: str | None, shown: str):
    """NOTIFY-04: markup is reduced to text, inline images become "[image]", plain text is left alone."""
    assert display_text(raw) == shown


def test_long_values_are_shortened():
    """A very long value is cut so it cannot crowd the card."""
    assert len(display_text("x" * 5000)) == 500


def test_validate_notify_reasons():
    """NOTIFY-01/03: at most five, PartyList/Image/Integer/File refused, unknown and duplicate names refused."""
    assert validate_notify(CASE_TYPE, True, ("prioritycode", "statuscode")) == []
    too_many = validate_notify(CASE_TYPE, True, ("prioritycode", "statecode", "statuscode", "description",
                                                  "customers", "entityimage"))
    assert any("At most 5" in p for p in too_many)
    for column, kind in (("customers", "PartyList"), ("entityimage", "Image"), ("attachment", "File"),
                         ("numberofchildincidents", "Integer")):
        problems = validate_notify(CASE_TYPE, True, (column,))
        assert len(problems) == 1 and f"is a {kind} column" in problems[0]
    assert "can't be shown" in validate_notify(CASE_TYPE, True, ("msdyn_tags",))[0]
    assert "no attribute 'nope'" in validate_notify(CASE_TYPE, True, ("nope",))[0]
    assert "chosen twice" in validate_notify(CASE_TYPE, True, ("prioritycode", "prioritycode"))[0]
    assert "at least one" in validate_notify(CASE_TYPE, True, ())[0]
    assert validate_notify(CASE_TYPE, False, ()) == []


def test_virtual_and_eventless_types_cannot_be_configured():
    """NOTIFY-03: virtual tables and tables without update events are refused, with the reason."""
    virtual = RecordType("ext_orders", "External order", "name", virtual=True)
    silent = RecordType("audit_log", "Audit log", "name", update_events=False)
    assert "virtual table" in validate_notify(virtual, True, ("name",))[0]
    assert "can't raise update events" in validate_notify(silent, True, ())[0]
    assert validate_notify(virtual, False, ()) == []


def test_parse_sample_formats_old_and_new_values():
    """The sample: priority Normal -> High from FormattedValues, the owner as lookups, modifiedon as the time."""
    op = parse(sample_body(), b"{}")
    assert (op.message, op.entity, op.record_id) == ("Update", "incident", "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21")
    assert op.changed["prioritycode"] == ("Normal", "High")
    old_owner, new_owner = op.changed["ownerid"]
    assert old_owner == Ref("systemuser", "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21", "Alex Wilber")
    assert new_owner == Ref("systemuser", "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21", "Megan Bowen")
    assert op.at == datetime.fromtimestamp(1795939200, UTC)
    assert op.dedupe_key == "dv:op:3f0d9a6b-2c4e-ef11-8409-000d3a4b9c21"
    assert op.changed["modifiedonbehalfby"] == (UNKNOWN, "")


def test_parse_money_dates_and_missing_pre_image():
    """Money, /Date(ms)/ and plain values are formatted; without a pre-image the old value is unknown."""
    body = sample_body()
    body["PreEntityImages"] = []
    target = body["InputParameters"][0]["value"]
    target["Attributes"] += [
        {"key": "revenue", "value": {"__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts",
                                     "Value": 1234.5}},
        {"key": "followupby", "value": "/Date(1795939200000)/"},
        {"key": "isescalated", "value": True}]
    op = parse(body, b"{}")
    assert op.changed["revenue"] == (UNKNOWN, "1,234.50")
    assert op.changed["followupby"][1] == "2026-11-29 08:00 UTC"
    assert op.changed["isescalated"][1] == "Yes"


def test_dedupe_key_falls_back_to_correlation_then_body():
    """Without OperationId the correlation plus record/stage identify the call; without both, the body does."""
    body = sample_body()
    body["OperationId"] = "00000000-0000-0000-0000-000000000000"
    assert dedupe_key(body, b"x").startswith("dv:corr:9c1a2f0e-6f3b-4a7e-9a41-3d2f5b7c8e10:incident:")
    body["CorrelationId"] = None
    assert dedupe_key(body, b"x") == dedupe_key(body, b"x") != dedupe_key(body, b"y")


def test_parse_rejects_what_is_not_a_context():
    """Clear messages for bodies that are not a RemoteExecutionContext."""
    with pytest.raises(BadPayload, match="MessageName"):
        parse({"PrimaryEntityName": "incident"}, b"")
    with pytest.raises(BadPayload, match="Target"):
        parse({"MessageName": "Update", "PrimaryEntityName": "incident", "PrimaryEntityId": "x",
               "InputParameters": [{"key": "Target", "value": "nope"}]}, b"")


def test_window_keeps_every_span_within_its_limit():
    """A burst of 20 sends through the conversation window never puts more than 7 in 1 s or 8 in 2 s."""
    window, now, sent = Window(CONVERSATION), 0.0, []
    while len(sent) < 20:
        wait = window.delay(now)
        now += wait
        if wait == 0:
            window.record(now)
            sent.append(now)
    assert all(sent[i + 7] - sent[i] >= 1.0 for i in range(len(sent) - 7))
    assert all(sent[i + 8] - sent[i] >= 2.0 for i in range(len(sent) - 8))
