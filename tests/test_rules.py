"""The domain rules, with no server: the disconnect truth table, the five-column rule, topics and join."""
from __future__ import annotations

import itertools

import pytest

from domain import rules
from domain.model import Attribute, Owner, Record, RecordType, View
from domain.settings import RecordTypeSettings, Settings, defaults_for


def rts(owner_toggle: bool, connector_toggle: bool) -> RecordTypeSettings:
    return RecordTypeSettings(owner_can_disconnect=owner_toggle, connector_can_disconnect=connector_toggle)


# The spec's eight rows: (owner, last connector, owner toggle, connector toggle, privilege) -> result;
# None means "Y/N": the row must hold for both values.
SPEC_ROWS = [
    (True, None, False, False, False, False),
    (True, None, True, None, None, True),
    (None, True, False, False, False, False),
    (None, True, None, True, None, True),
    (None, None, None, None, True, True),
    (False, False, True, False, False, False),
    (False, True, False, False, False, False),
    (False, False, False, False, False, False),
]


@pytest.mark.parametrize("row", SPEC_ROWS)
def test_disconnect_matches_every_spec_row(row):
    """DISC-03: each of the spec's eight rows holds for every Y/N expansion."""
    *inputs, expected = row
    choices = [(v,) if v is not None else (True, False) for v in inputs]
    for owner, last, owner_t, conn_t, priv in itertools.product(*choices):
        assert rules.can_disconnect(priv, owner, last, rts(owner_t, conn_t)).allowed is expected


@pytest.mark.parametrize("combo", list(itertools.product([True, False], repeat=5)))
def test_disconnect_formula_for_all_32_combinations(combo):
    """DISC-03: privilege OR (owner AND owner toggle) OR (connector AND connector toggle), all 32 inputs."""
    owner, last, owner_t, conn_t, priv = combo
    expected = priv or (owner and owner_t) or (last and conn_t)
    decision = rules.can_disconnect(priv, owner, last, rts(owner_t, conn_t))
    assert decision.allowed is expected
    assert decision.reason


def test_connector_without_toggle_cannot_disconnect():
    """DISC-05: a user who connected the chat can't disconnect it when the connector toggle is off."""
    decision = rules.can_disconnect(False, False, True, rts(True, False))
    assert not decision.allowed and "chat connectors may not" in decision.reason


def test_team_member_counts_as_owner():
    """DISC-02: owner means the owning user or a member of the owning team."""
    team_owned = Record("incident", "1", "x", owner=Owner("team", "tier1"))
    assert rules.is_owner(team_owned, "u1", ["tier1"])
    assert not rules.is_owner(team_owned, "tier1", [])
    assert rules.is_owner(Record("incident", "1", "x", owner=Owner("systemuser", "u1")), "u1", [])


def _case_type(columns: tuple[str, ...]) -> RecordType:
    attrs = {"title": Attribute("title", "String", "Title"), "customers": Attribute("customers", "PartyList", "C"),
             "img": Attribute("img", "Image", "Img"), "a": Attribute("a", "String", "A"),
             "b": Attribute("b", "Picklist", "B"), "c": Attribute("c", "String", "C"),
             "d": Attribute("d", "String", "D"), "f": Attribute("f", "File", "F")}
    return RecordType("incident", "Case", "title", attributes=attrs, views=(View("v", columns),))


def test_unsupported_column_is_skipped_not_replaced():
    """CARD-03: one unsupported column among the first five leaves four; the sixth is not pulled in."""
    rtype = _case_type(("title", "customers", "a", "b", "c", "d"))
    record = Record("incident", "1", "T", values={k: k.upper() for k in ("title", "customers", "a", "b", "c", "d")})
    fields = rules.card_fields(rtype, rtype.views[0], record)
    assert [label for label, _ in fields] == ["Title", "A", "B", "C"]


def test_empty_values_hidden_and_order_kept():
    """CARD-02/04: view order is kept and empty values are not shown."""
    rtype = _case_type(("c", "a", "b", "img", "f"))
    record = Record("incident", "1", "T", values={"c": "3", "a": "", "b": "2"})
    assert rules.card_fields(rtype, rtype.views[0], record) == [("C", "3"), ("B", "2")]


def test_default_views():
    """CARD-06: case defaults to "Case introduction message", others to their Quick Find view."""
    case = RecordType("incident", "Case", "title", views=(View("Quick Find", ("title",), True),
                                                          View("Case introduction message", ("title",))))
    account = RecordType("account", "Account", "name", views=(View("Active", ("name",)),
                                                               View("Quick Find", ("name",), True)))
    assert rules.default_view(case).name == "Case introduction message"
    assert rules.default_view(account).name == "Quick Find"


def test_topic_rules():
    """NEW-02: typed topic wins, else record name with auto-name, else participants; capped to Teams' limit."""
    record = Record("incident", "1", "Printer outage")
    assert rules.chat_topic("Mine", True, record, ["A", "B"]) == "Mine"
    assert rules.chat_topic(None, True, record, ["A", "B"]) == "Printer outage"
    assert rules.chat_topic("", False, record, ["A", "B"]) == "A, B"
    assert len(rules.chat_topic("x" * 400, True, record, [])) == rules.TOPIC_MAX


def test_join_rules():
    """JOIN-01: connected chats only, write access only, join on for the type only."""
    on = RecordTypeSettings(join_chat=True)
    assert rules.can_join(on, "write", True).allowed
    assert "write access" in rules.can_join(on, "read", True).reason
    assert "turned off" in rules.can_join(RecordTypeSettings(join_chat=False), "write", True).reason
    assert not rules.can_join(on, "write", False).allowed


def test_settings_defaults():
    """RT-03/EN-01: case joins and notifies on priority/status/status reason; others don't; chats on."""
    s = Settings()
    assert s.teams_chat_enabled
    case = defaults_for("incident")
    assert case.join_chat and case.notify and case.include_note and case.auto_name
    assert case.watched == ("prioritycode", "statecode", "statuscode")
    assert case.owner_can_disconnect and case.connector_can_disconnect
    assert not s.record_types["account"].join_chat and not s.record_types["account"].notify
    assert set(s.record_types) == {"incident", "account", "contact", "knowledgearticle", "email"}
    assert "Omnichannel agent" in s.disconnect_roles and len(s.disconnect_roles) == 6
