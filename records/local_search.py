"""Search over the local directory's rows: case-insensitive match on a record's number and primary name, exact
number first, then prefixes, then anywhere in the text; with no text, one owner's records, newest first."""
from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from typing import Any

from domain.model import RecordType

Row = dict[str, Any]
NEWEST = ("modifiedon", "createdon")


Condition = tuple[str, str, tuple[str, ...]]  # attribute, eq | ne | in | not-in, values (records/directory_file.py)


def matches(types: Sequence[RecordType], rows: Mapping[str, Sequence[Row]], text: str, limit: int,
            owner_id: str | None = None, quick_find: Mapping[str, Sequence[Condition]] | None = None
            ) -> list[tuple[str, Row]]:
    """`quick_find`: each type's Quick Find view conditions, applied to text search as Dataverse does."""
    if not text:
        return _owned(types, rows, owner_id, limit) if owner_id else []
    wanted = text.casefold()
    ranked: list[tuple[int, str, str, str, Row]] = []
    for rt in types:
        conditions = (quick_find or {}).get(rt.logical_name, ())
        for row in rows.get(rt.logical_name, ()):
            if conditions and not all(_holds(row, c) for c in conditions):
                continue
            name = str(row.get(rt.primary_name) or "")
            level = rank(wanted, str(row.get(rt.number) or "") if rt.number else "", name)
            if level >= 0:
                ranked.append((level, name.casefold(), rt.logical_name, str(row.get("id", "")), row))
    best = heapq.nsmallest(limit, ranked, key=lambda item: item[:4])
    return [(kind, row) for _, _, kind, _, row in best]


def _holds(row: Row, condition: Condition) -> bool:
    attribute, operator, values = condition
    value = row.get(attribute)
    inside = (str(value) if value is not None else "") in values
    return inside if operator in ("eq", "in") else not inside


def rank(wanted: str, number: str, name: str) -> int:
    """0 exact number, 1 number prefix, 2 name prefix, 3 number or name contains it, -1 no match."""
    number, name = number.casefold(), name.casefold()
    if number == wanted:
        return 0
    if number.startswith(wanted):
        return 1
    if name.startswith(wanted):
        return 2
    return 3 if wanted in number or wanted in name else -1


def _owned(types: Sequence[RecordType], rows: Mapping[str, Sequence[Row]], owner_id: str,
           limit: int) -> list[tuple[str, Row]]:
    def owner(row: Row) -> str:
        ref = row.get("ownerid")
        return str(ref.get("id", "")) if isinstance(ref, dict) and ref.get("type") == "systemuser" else ""

    mine = [(rt.logical_name, row) for rt in types for row in rows.get(rt.logical_name, ()) if owner(row) == owner_id]
    return heapq.nlargest(limit, mine, key=lambda item: next((str(item[1][k]) for k in NEWEST if item[1].get(k)), ""))
