"""Checks of the AI-suggested contacts settings of a record type (called from domain.settings_rules)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from domain.model import RecordType
from domain.registrations import ALL, StepNeed
from domain.settings import RecordTypeSettings, Settings

TEXT_TYPES = frozenset({"String", "Memo", "Lookup", "Customer", "Picklist", "Owner"})
MAX_FIELDS = 10
MAX_LOOKBACK_DAYS = 3650
_BOOLS = ("similar_contacts", "similar_first")
CASE, RESOLUTION = "incident", "incidentresolution"


def shape_problems(raw: dict[str, Any], where: str) -> list[tuple[str, str]]:
    problems = [(f"{where}.{k}", "must be true or false") for k in _BOOLS if k in raw and not isinstance(raw[k], bool)]
    days = raw.get("similar_lookback_days", 1)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_LOOKBACK_DAYS:
        problems.append((f"{where}.similar_lookback_days", f"must be a whole number of days, 1 to {MAX_LOOKBACK_DAYS}"))
    threshold = raw.get("similar_threshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or not 0 <= threshold <= 1:
        problems.append((f"{where}.similar_threshold", "must be a number from 0 to 1"))
    fields = raw.get("similar_fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        problems.append((f"{where}.similar_fields", "must be a list of attribute names"))
    return problems


def rule_problems(rtype: RecordType, rts: RecordTypeSettings, where: str) -> list[tuple[str, str]]:
    at = f"{where}.similar_fields"
    if not rts.similar_contacts:
        return []  # the defaults name case fields; they are only checked for types that use them
    if not rts.similar_fields:
        return [(at, "choose at least one text field to compare cases by")]
    if problem := _resolution_problem(rtype):
        return [(f"{where}.similar_contacts", problem)]
    if len(rts.similar_fields) > MAX_FIELDS or len(set(rts.similar_fields)) != len(rts.similar_fields):
        return [(at, f"at most {MAX_FIELDS} distinct fields")]
    for name in rts.similar_fields:
        attr = rtype.attributes.get(name)
        if attr is None:
            return [(at, f"{rtype.display_name} has no attribute {name!r}")]
        if attr.type not in TEXT_TYPES:
            return [(at, f"{attr.display_name} ({name}) is a {attr.type}; choose text, choice or lookup fields")]
    return []


def _resolution_problem(rtype: RecordType) -> str | None:
    """Why records of the type cannot be told resolved (None: they can). A Dataverse table's resolution is
    leaving the Active state (statecode), reported by its Update step; the local directory names a resolver."""
    attrs = rtype.attributes
    state = attrs.get("statecode")
    if (state is None or state.type != "State") and "resolvedby" not in attrs:
        return (f"{rtype.display_name} has no state (statecode) or resolver (resolvedby) to tell "
                "resolved records by")
    if rtype.logical_name != CASE and (rtype.virtual or not rtype.update_events) and "resolvedby" not in attrs:
        return f"{rtype.display_name} raises no update events, so its resolutions cannot be followed"
    return None


def similar_needs(settings: Settings, primary_names: Mapping[str, str]) -> Iterable[StepNeed]:
    """The Dataverse webhook steps the similar-cases index needs (webhooks/similar_intake.py). Cases: resolved
    (Create of incidentresolution), changed in a compared field or reactivated (Update of incident), deleted. Any
    other type with AI-suggested contacts on has no resolution activity: leaving the Active state resolves it, so
    its Update step is filtered on statecode plus the compared fields, and its Delete step takes it out."""
    purpose = "AI-suggested contacts"
    for table in sorted(settings.record_types):
        rts = settings.for_type(table)  # None for a type agents may not connect chats to
        if rts is None or not rts.similar_contacts or not rts.similar_fields:
            continue
        if table == CASE:
            yield StepNeed(RESOLUTION, "Create", ALL, (), purpose)
        yield StepNeed(table, "Update", ("statecode", *rts.similar_fields), (), purpose)
        yield StepNeed(table, "Delete", ALL, (), purpose)
