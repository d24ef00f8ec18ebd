"""Web API rows <-> domain records: formatted values for display, typed values for writing."""
from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

from domain.kinds import CHOICE_TYPES, LOOKUP_TYPES, AttributeType
from domain.model import Owner, Record
from records.dataverse_meta import TypeMeta

FORMATTED = "@OData.Community.Display.V1.FormattedValue"
LOOKUP_TYPE = "@Microsoft.Dynamics.CRM.lookuplogicalname"
GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
WRITABLE_TEXT = frozenset({AttributeType.STRING, AttributeType.MEMO})
NUMBER_TYPES = frozenset({"Integer", "BigInt"})
DECIMAL_TYPES = frozenset({"Decimal", "Double", "Money"})
YES = {"yes", "true", "1", "on"}
NO = {"no", "false", "0", "off"}


def guid(text: str) -> str | None:
    """The lower-case GUID in `text`, or None: Dataverse rejects any other key with a 400."""
    match = GUID.match(text.strip())
    return match.group(1).lower() if match else None


def display(row: dict[str, Any], column: str) -> str:
    """What Dataverse shows for a column: its formatted value (labels, names, dates) or the raw text."""
    if row.get(column + FORMATTED) is not None:
        return str(row[column + FORMATTED])
    value = row.get(column)
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    return str(value)


def column_of(meta: TypeMeta, attribute: str) -> str:
    attr = meta.record_type.attributes.get(attribute)
    return f"_{attribute}_value" if attr and attr.type in LOOKUP_TYPES else attribute


def to_record(meta: TypeMeta, row: dict[str, Any], org_url: str) -> Record:
    rt = meta.record_type
    rid = str(row.get(meta.primary_id) or "").lower()
    values = {}
    for name in rt.attributes:
        column = column_of(meta, name)
        if name != meta.primary_id and column in row:
            values[name] = display(row, column)
    owner = None
    if row.get("_ownerid_value") and row.get("_ownerid_value" + LOOKUP_TYPE) in ("systemuser", "team"):
        owner = Owner(row["_ownerid_value" + LOOKUP_TYPE], str(row["_ownerid_value"]).lower(),
                      display(row, "_ownerid_value"))
    number = values.get(rt.number) if rt.number else None
    url = f"{org_url.rstrip('/')}/main.aspx?pagetype=entityrecord&etn={quote(rt.logical_name)}&id={quote(rid)}"
    return Record(type=rt.logical_name, id=rid, name=values.get(rt.primary_name, ""), owner=owner,
                  number=number or None, values=values, url=url)


def lookup_ref(row: dict[str, Any], attribute: str) -> tuple[str, str] | None:
    """(record type, id) a lookup column points at, from `_x_value` and its lookuplogicalname annotation."""
    column = f"_{attribute}_value"
    if not row.get(column) or not row.get(column + LOOKUP_TYPE):
        return None
    return str(row[column + LOOKUP_TYPE]), str(row[column]).lower()


def to_api_value(meta: TypeMeta, attribute: str, text: str) -> Any:
    """Convert what an agent typed into the Web API value for the column; ValueError says what is allowed."""
    attr = meta.record_type.attributes.get(attribute)
    if attr is None:
        raise ValueError(f"{meta.record_type.display_name} has no field {attribute!r}.")
    value = text.strip()
    if attr.type in CHOICE_TYPES:
        options = meta.option_values.get(attribute, {})
        if value.lower() in options:
            return options[value.lower()]
        allowed = ", ".join(attr.options) or "none"
        raise ValueError(f"{attr.display_name} cannot be {value!r}; choose one of: {allowed}.")
    if attr.type in WRITABLE_TEXT:
        return text
    if attr.type == AttributeType.BOOLEAN:
        if value.lower() in YES | NO:
            return value.lower() in YES
        raise ValueError(f"{attr.display_name} must be yes or no.")
    if attr.type in NUMBER_TYPES:
        try:
            return int(value.replace(",", ""))
        except ValueError:
            raise ValueError(f"{attr.display_name} must be a whole number.") from None
    if attr.type in DECIMAL_TYPES:
        try:
            return float(Decimal(value.replace(",", "").lstrip("$€£")))
        except InvalidOperation:
            raise ValueError(f"{attr.display_name} must be a number.") from None
    if attr.type == AttributeType.DATETIME:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).isoformat()
        except ValueError:
            raise ValueError(f"{attr.display_name} must be a date like 2026-12-01 or 2026-12-01T09:00Z.") from None
    raise ValueError(f"{attr.display_name} ({attr.type}) cannot be changed from a chat.")
