"""Reads the RemoteExecutionContext a Dataverse webhook posts (DataContractJsonSerializer JSON: key/value lists,
`__type`-tagged OptionSetValue, EntityReference and Money, dates as /Date(ms)/). Pure: lookups whose Name is
null come back as Ref for the caller to name through the record source."""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.notifications import UNKNOWN

_DATE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
_EMPTY_GUID = "00000000-0000-0000-0000-000000000000"


class BadPayload(ValueError):
    """The body is not a RemoteExecutionContext we can read; the message says what is wrong."""


@dataclass(frozen=True)
class Ref:
    """An EntityReference; `name` is None when Dataverse left it out (it usually does in Target)."""
    logical_name: str
    id: str
    name: str | None = None


Value = str | Ref


@dataclass(frozen=True)
class Operation:
    message: str
    entity: str
    record_id: str
    dedupe_key: str
    user_id: str
    at: datetime
    truncated: bool  # over 256 KB: Dataverse removed InputParameters and the images
    changed: dict[str, tuple[Value, Value]] = field(default_factory=dict)  # column -> (old, new)
    modified_by: Value = ""


def parse(body: Any, raw: bytes, truncated: bool = False) -> Operation:
    if not isinstance(body, dict):
        raise BadPayload("the body must be a JSON object (a Dataverse RemoteExecutionContext)")
    message = _text(body, "MessageName")
    entity = _text(body, "PrimaryEntityName").lower()
    record_id = _text(body, "PrimaryEntityId").lower()
    target = None if truncated or message != "Update" else _target(body)
    pre, post = _image(body, "PreEntityImages"), _image(body, "PostEntityImages")
    changed: dict[str, tuple[Value, Value]] = {}
    modified_by: Value = ""
    at = _when(body.get("OperationCreatedOn")) or datetime.now(UTC)
    if target is not None:
        values = entity_values(target)
        post_values = entity_values(post) if post else {}
        pre_values = entity_values(pre) if pre else None
        for column, new in values.items():
            changed[column] = (_old(column, pre_values, post_values), _named(new, post_values.get(column)))
        modified_by = values.get("modifiedby", "")
        at = _when(_attributes(target).get("modifiedon")) or at
    return Operation(message, entity, record_id, dedupe_key(body, raw), str(body.get("InitiatingUserId") or ""),
                     at, truncated, changed, modified_by)


def dedupe_key(body: dict[str, Any], raw: bytes) -> str:
    """The operation's identity, the same on every retry: OperationId (the system job Dataverse retries), else
    the correlation plus what it touched, else the body itself."""
    op = str(body.get("OperationId") or "").lower()
    if op and op != _EMPTY_GUID:
        return f"dv:op:{op}"
    corr = str(body.get("CorrelationId") or "").lower()
    if corr and corr != _EMPTY_GUID:
        post = _image(body, "PostEntityImages") or {}
        parts = (corr, body.get("PrimaryEntityName"), body.get("PrimaryEntityId"), body.get("Stage"),
                 body.get("Depth"), post.get("RowVersion"))
        return "dv:corr:" + ":".join(str(p or "").lower() for p in parts)
    return "dv:body:" + hashlib.sha256(raw).hexdigest()


def entity_values(entity: dict[str, Any]) -> dict[str, Value]:
    """Column -> display text (FormattedValues first) or a Ref for a lookup."""
    formatted = _pairs(entity.get("FormattedValues"), "FormattedValues")
    out: dict[str, Value] = {}
    for column, raw in _attributes(entity).items():
        text = formatted.get(column)
        value = format_value(raw)
        if isinstance(value, Ref):
            out[column] = Ref(value.logical_name, value.id, str(text)) if value.name is None and text else value
        else:
            out[column] = str(text) if text is not None else value
    return out


def format_value(raw: Any) -> Value:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "Yes" if raw else "No"
    if isinstance(raw, int | float):
        return f"{raw:,}" if isinstance(raw, int) else f"{raw:,.2f}"
    if isinstance(raw, str):
        when = _when(raw)
        return when.strftime("%Y-%m-%d %H:%M UTC") if when else raw
    if isinstance(raw, list):
        return ", ".join(str(v) for v in (format_value(x) for x in raw) if v)
    if isinstance(raw, dict):
        return _typed(raw)
    return str(raw)


def _typed(raw: dict[str, Any]) -> Value:
    kind = str(raw.get("__type", "")).split(":", 1)[0]
    if _is_ref(raw):
        name = raw.get("Name")
        return Ref(str(raw.get("LogicalName") or ""), str(raw.get("Id") or "").lower(),
                   str(name) if name else None)
    if kind == "Money":
        value = raw.get("Value")
        return f"{value:,.2f}" if isinstance(value, int | float) else str(value or "")
    if "Value" in raw:
        return format_value(raw["Value"])
    if isinstance(raw.get("Entities"), list):  # EntityCollection (party lists): names where given
        return ", ".join(str(e.get("Name") or "") for e in raw["Entities"] if isinstance(e, dict))
    return ""


def _is_ref(raw: Any) -> bool:
    return isinstance(raw, dict) and (str(raw.get("__type", "")).startswith("EntityReference")
                                      or ("LogicalName" in raw and "Id" in raw and "Attributes" not in raw))


def _old(column: str, pre: dict[str, Value] | None, post: dict[str, Value]) -> Value:
    if pre is None:
        return UNKNOWN  # no pre-image registered
    if column in pre:
        return pre[column]
    # Images leave out empty columns: when the post-image has the column and the pre-image not, it was empty.
    return "" if column in post else UNKNOWN


def _named(new: Value, from_post: Value | None) -> Value:
    if isinstance(new, Ref) and new.name is None and isinstance(from_post, Ref) and from_post.id == new.id:
        return from_post
    return new


def _when(value: Any) -> datetime | None:
    m = _DATE.match(value) if isinstance(value, str) else None
    return datetime.fromtimestamp(int(m.group(1)) / 1000, UTC) if m else None


def _text(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value.strip():
        raise BadPayload(f"{key} is missing or not a text")
    return value.strip()


def _pairs(value: Any, where: str) -> dict[str, Any]:
    """DataContract dictionaries are lists of {"key": ..., "value": ...}."""
    if value is None:
        return {}
    if not isinstance(value, list) or not all(isinstance(p, dict) and isinstance(p.get("key"), str) for p in value):
        raise BadPayload(f"{where} must be a list of {{\"key\": ..., \"value\": ...}} pairs")
    return {p["key"]: p.get("value") for p in value}


def _attributes(entity: dict[str, Any]) -> dict[str, Any]:
    return _pairs(entity.get("Attributes"), "Attributes")


def _target(body: dict[str, Any]) -> dict[str, Any]:
    target = _pairs(body.get("InputParameters"), "InputParameters").get("Target")
    if not isinstance(target, dict) or not isinstance(target.get("Attributes"), list):
        raise BadPayload("InputParameters has no Target entity with Attributes (an Update always has one)")
    return target


def _image(body: dict[str, Any], key: str) -> dict[str, Any] | None:
    images = _pairs(body.get(key), key)
    image = next(iter(images.values()), None)
    if image is not None and not isinstance(image, dict):
        raise BadPayload(f"{key} must hold entity images")
    return image
