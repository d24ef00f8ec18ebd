"""A Quick Find view's fetchxml -> what a search sends to the Web API, as Dynamics 365's Quick Find runs it: the find
columns (the conditions of the `isquickfindfields` filter) searched with contains(), ANDed with the view's other
conditions (e.g. "statecode eq 0" in "Quick Find Active Cases") translated to OData $filter.

A condition we cannot translate (a linked table's column, an operator we do not know, a value that does not fit the
column's type) counts as true: the search returns more, never fails and never silently returns less. What was left
out is listed in `ViewFilter.skipped` for one log line per view. Column names must be columns of the table's
metadata and every value is re-written as a literal of the column's type, so view content cannot change the query's
shape; search text only ever enters through `like_literal`.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal, InvalidOperation

from domain.kinds import CHOICE_TYPES, LOOKUP_TYPES
from domain.model import Attribute
from records.dataverse_http import odata_string
from records.dataverse_rows import guid

TEXT_TYPES = frozenset({"String", "Memo"})
INTEGER_TYPES = frozenset({"Integer", "BigInt", *CHOICE_TYPES})
DECIMAL_TYPES = frozenset({"Decimal", "Double", "Money"})
COMPARE = {"eq": "eq", "ne": "ne", "neq": "ne", "gt": "gt", "ge": "ge", "lt": "lt", "le": "le"}
# like-family operator -> (leading %, trailing %, negated) of the pattern it stands for
AFFIX = {"begins-with": (False, True, False), "not-begin-with": (False, True, True),
         "ends-with": (True, False, False), "not-end-with": (True, False, True)}
NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
MAX_DAYS = 36500


def like_literal(text: str) -> str:
    """Dataverse runs contains()/startswith()/endswith() as SQL LIKE: %, _ and [ match literally only in brackets."""
    return odata_string("".join(f"[{c}]" if c in "%_[" else c for c in text))


@dataclass(frozen=True)
class Always:
    """A condition left out: true, so AND ignores it and an OR holding it matches everything."""


@dataclass(frozen=True)
class Leaf:
    text: str


@dataclass(frozen=True)
class CurrentUser:
    """eq-userid / ne-userid: known only per request (the agent the search is made as)."""
    path: str
    negate: bool


@dataclass(frozen=True)
class LastDays:
    """last-x-days: from the start of the day `days` ago until now, computed per request (UTC)."""
    path: str
    days: int


@dataclass(frozen=True)
class Group:
    kind: str  # "and" | "or"
    children: tuple[Node, ...]


Node = Always | Leaf | CurrentUser | LastDays | Group


@dataclass(frozen=True)
class ViewFilter:
    find_columns: tuple[str, ...] = ()
    conditions: Node = Always()
    skipped: tuple[str, ...] = ()

    @property
    def uses_current_user(self) -> bool:
        return _has(self.conditions, CurrentUser)

    def render(self, user_id: str | None, now: datetime) -> str:
        """The view's conditions as one $filter expression ("" when none), for a search made as `user_id`
        (the agent's systemuserid; None when not acting as an agent, which drops eq-userid conditions)."""
        return _render(self.conditions, guid(user_id or ""), now) or ""


def translate(fetchxml: str, attrs: Mapping[str, Attribute]) -> ViewFilter:
    try:
        entity = ET.fromstring(fetchxml).find("entity")
    except ET.ParseError:
        return ViewFilter(skipped=("unreadable fetchxml",))
    if entity is None:
        return ViewFilter()
    skipped: list[str] = []
    for link in entity.iter("link-entity"):  # an outer join without conditions only adds columns
        if link.get("link-type", "inner") != "outer" or link.find(".//condition") is not None:
            skipped.append(f"link-entity {link.get('name', '?')}")
    filters = [_filter(f, attrs, skipped) for f in entity.findall("filter")]
    conditions = Group("and", tuple(f for f in filters if f is not None))
    return ViewFilter(_find_columns(entity, attrs), _simplify(conditions), tuple(dict.fromkeys(skipped)))


def _find_columns(entity: ET.Element, attrs: Mapping[str, Attribute]) -> tuple[str, ...]:
    """Text columns of the find-column conditions (a lookup or number cannot be contains()ed)."""
    names = [c.get("attribute", "") for f in entity.iter("filter") if _is_find(f) for c in f.iter("condition")]
    return tuple(dict.fromkeys(n for n in names if n in attrs and attrs[n].type in TEXT_TYPES))


def _is_find(element: ET.Element) -> bool:
    return element.get("isquickfindfields") in ("1", "true")


def _filter(element: ET.Element, attrs: Mapping[str, Attribute], skipped: list[str]) -> Node | None:
    """None for the find filter: the search text's own group, which the caller ANDs on top (Dataverse evaluates
    the quick find filter first and the view's other filters on its results)."""
    if _is_find(element):
        return None
    kind = "or" if element.get("type", "and").lower() == "or" else "and"
    children: list[Node | None] = []
    for child in element:
        if child.tag == "condition":
            children.append(_condition(child, attrs, skipped))
        elif child.tag == "filter":
            children.append(_filter(child, attrs, skipped))
    return Group(kind, tuple(c for c in children if c is not None))


def _condition(cond: ET.Element, attrs: Mapping[str, Attribute], skipped: list[str]) -> Node:
    name, op = cond.get("attribute", ""), cond.get("operator", "").lower()
    attr = attrs.get(name)
    if cond.get("entityname"):
        reason = f"{cond.get('entityname')}.{name} (a linked table's column)"
    elif attr is None or not NAME.match(name):
        reason = f"{name or '?'} (not a readable column of this table)"
    else:
        node = _operator(attr, op, _values(cond))
        if node is not None:
            return node
        reason = f"{name} {op} {','.join(_values(cond))}".strip()[:80]
    skipped.append(reason)
    return Always()


def _values(cond: ET.Element) -> list[str]:
    value = cond.get("value")
    return [value] if value is not None else [v.text or "" for v in cond.findall("value")]


def _operator(attr: Attribute, op: str, values: list[str]) -> Node | None:
    path = f"_{attr.name}_value" if attr.type in LOOKUP_TYPES else attr.name
    if any("{0}" in v for v in values):
        return None  # the search text's placeholder outside the find filter: not a value we can know
    if op in ("null", "not-null"):
        return Leaf(f"{path} {'eq' if op == 'null' else 'ne'} null")
    if op in COMPARE and len(values) == 1:
        literal = _literal(attr.type, values[0])
        return Leaf(f"{path} {COMPARE[op]} {literal}") if literal else None
    if op in ("in", "not-in") and values:
        literals = [_literal(attr.type, v) for v in values]
        if not all(literals):
            return None
        test, join = ("eq", "or") if op == "in" else ("ne", "and")
        return Group(join, tuple(Leaf(f"{path} {test} {lit}") for lit in literals))
    if attr.type in TEXT_TYPES and len(values) == 1:
        return _text(path, op, values[0])
    if attr.type in LOOKUP_TYPES and op in ("eq-userid", "ne-userid"):
        return CurrentUser(path, op == "ne-userid")
    if attr.type == "DateTime" and len(values) == 1:
        return _dates(path, op, values[0])
    return None


def _text(path: str, op: str, value: str) -> Node | None:
    if op in AFFIX:
        lead, trail, negate = AFFIX[op]
    elif op in ("like", "not-like"):
        lead, trail, negate = value.startswith("%"), len(value) > 1 and value.endswith("%"), op == "not-like"
        value = value[1 if lead else 0:len(value) - 1 if trail else len(value)]
        if not value or any(c in value for c in "%_["):
            return None  # a wildcard inside the pattern has no OData function
    else:
        return None
    function = "contains" if lead and trail else "startswith" if trail else "endswith" if lead else ""
    test = f"{function}({path},{like_literal(value)})" if function else f"{path} eq {odata_string(value)}"
    return Leaf(f"not {test}" if negate else test)


def _dates(path: str, op: str, value: str) -> Node | None:
    if op == "last-x-days":
        return LastDays(path, int(value)) if value.isdigit() and int(value) <= MAX_DAYS else None
    day = _day(value)
    if day is None:
        return None
    if op == "on-or-after":
        return Leaf(f"{path} ge {day.strftime(TIMESTAMP)}")
    if op == "on-or-before":  # the whole day (UTC) counts
        return Leaf(f"{path} lt {(day + timedelta(days=1)).strftime(TIMESTAMP)}")
    return None


def _day(value: str) -> datetime | None:
    try:
        return datetime.combine(date.fromisoformat(value.strip()[:10]), datetime.min.time(), UTC)
    except ValueError:
        return None


def _literal(kind: str, value: str) -> str | None:
    """`value` re-written as an OData literal of the column's type; None when it is not one."""
    value = value.strip()
    if kind in TEXT_TYPES:
        return odata_string(value)
    if kind in INTEGER_TYPES:
        return value if re.fullmatch(r"-?\d{1,19}", value) else None
    if kind in DECIMAL_TYPES:
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return str(number) if number.is_finite() else None
    if kind == "Boolean":
        return {"1": "true", "true": "true", "0": "false", "false": "false"}.get(value.lower())
    if kind in LOOKUP_TYPES or kind == "Uniqueidentifier":
        return guid(value)
    if kind == "DateTime":
        return _timestamp(value)
    return None


def _timestamp(value: str) -> str | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    return moment.strftime(TIMESTAMP)


def _simplify(node: Node) -> Node:
    """Fold what is known before any request: AND drops true children, an OR with a true child is true."""
    if not isinstance(node, Group):
        return node
    children = tuple(_simplify(c) for c in node.children)
    if node.kind == "or" and any(isinstance(c, Always) for c in children):
        return Always()
    children = tuple(c for c in children if not isinstance(c, Always))
    if not children:
        return Always()
    return children[0] if len(children) == 1 else Group(node.kind, children)


def _render(node: Node, user_id: str | None, now: datetime) -> str | None:
    """OData text, or None for "true"."""
    if isinstance(node, Leaf):
        return node.text
    if isinstance(node, CurrentUser):
        return f"{node.path} {'ne' if node.negate else 'eq'} {user_id}" if user_id else None
    if isinstance(node, LastDays):
        start = datetime.combine((now - timedelta(days=node.days)).date(), datetime.min.time(), UTC)
        return f"({node.path} ge {start.strftime(TIMESTAMP)} and {node.path} le {now.strftime(TIMESTAMP)})"
    if isinstance(node, Group):
        parts = [_render(c, user_id, now) for c in node.children]
        if node.kind == "or" and None in parts:
            return None
        kept = [p for p in parts if p is not None]
        if len(kept) <= 1:
            return kept[0] if kept else None
        return "(" + f" {node.kind} ".join(kept) + ")"
    return None


def _has(node: Node, kind: type) -> bool:
    return isinstance(node, kind) or (isinstance(node, Group) and any(_has(c, kind) for c in node.children))
