"""Dataverse metadata -> domain model: record types, attributes, option sets, views (savedquery layoutxml)."""
from __future__ import annotations

import asyncio
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from domain.kinds import LOOKUP_TYPES
from domain.model import Attribute, RecordType, View

log = logging.getLogger(__name__)

OPTION_CASTS = ("PicklistAttributeMetadata", "StateAttributeMetadata", "StatusAttributeMetadata")
# Image, File and multi-select columns all report AttributeType Virtual; AttributeTypeName tells them apart.
VIRTUAL_KINDS = {"ImageType": "Image", "FileType": "File", "MultiSelectPicklistType": "MultiSelectPicklist"}
# Columns a record read never asks for: no single value to show (party lists, images, files, internals).
NOT_SELECTED = frozenset({"PartyList", "Image", "File", "Virtual", "CalendarRules", "ManagedProperty",
                          "EntityName", "Uniqueidentifier"})
# Dataverse has no metadata flag for "the number an agent types"; these are the out-of-box ones.
NUMBER_COLUMNS = {"incident": "ticketnumber", "account": "accountnumber",
                  "knowledgearticle": "articlepublicnumber", "msdyn_workorder": "msdyn_name"}
# Short names agents use that no metadata label carries.
EXTRA_ALIASES = {"knowledgearticle": ("article", "kb"), "email": ("e-mail",)}
QUICK_FIND, PUBLIC_VIEW = 4, 0

ENTITY_SELECT = ("LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,DisplayName,"
                 "DisplayCollectionName,IsCustomizable,TableType,DataProviderId")
ATTRIBUTE_SELECT = "LogicalName,AttributeType,AttributeTypeName,DisplayName,AttributeOf,IsValidForRead"


def label(raw: Any) -> str:
    """The user's label from a Label complex type, else the first localized one."""
    if not isinstance(raw, dict):
        return ""
    user = raw.get("UserLocalizedLabel")
    if isinstance(user, dict) and user.get("Label"):
        return str(user["Label"])
    labels = raw.get("LocalizedLabels") or []
    return str(labels[0].get("Label", "")) if labels and isinstance(labels[0], dict) else ""


@dataclass(frozen=True)
class CatalogEntry:
    """One row of EntityDefinitions: enough to resolve a typed name to a table."""
    logical_name: str
    entity_set: str
    display_name: str
    collection_name: str
    primary_name: str = ""

    def aliases(self) -> tuple[str, ...]:
        names = [self.collection_name, self.entity_set, self.display_name.replace(" ", ""),
                 self.collection_name.replace(" ", ""), *EXTRA_ALIASES.get(self.logical_name, ())]
        seen = {self.logical_name.lower(), self.display_name.lower(), ""}
        out = []
        for name in names:
            if name.lower() not in seen:
                seen.add(name.lower())
                out.append(name.lower())
        return tuple(out)

    def names(self) -> set[str]:
        return {self.logical_name.lower(), self.display_name.lower(), *self.aliases()}


def parse_catalog(rows: Iterable[dict[str, Any]]) -> dict[str, CatalogEntry]:
    out = {}
    for row in rows:
        logical = str(row.get("LogicalName") or "")
        if logical and row.get("EntitySetName"):
            display = label(row.get("DisplayName")) or logical
            out[logical] = CatalogEntry(logical, str(row["EntitySetName"]), display,
                                        label(row.get("DisplayCollectionName")) or display,
                                        str(row.get("PrimaryNameAttribute") or ""))
    return out


@dataclass(frozen=True)
class TypeMeta:
    """A record type plus what the Web API needs to read and write its rows."""
    record_type: RecordType
    entity_set: str
    primary_id: str
    key_columns: frozenset[str] = frozenset()
    # attribute -> lower-cased option label -> option value, for writing choice columns
    option_values: dict[str, dict[str, int]] = field(default_factory=dict)

    def select(self) -> list[str]:
        """$select for a record read: every readable column with a single value; lookups as _x_value."""
        cols = [self.primary_id]
        for attr in self.record_type.attributes.values():
            if attr.name == self.primary_id or attr.type in NOT_SELECTED:
                continue
            cols.append(f"_{attr.name}_value" if attr.type in LOOKUP_TYPES else attr.name)
        return cols


def attribute_type(raw: dict[str, Any]) -> str:
    kind = str(raw.get("AttributeType") or "")
    type_name = raw.get("AttributeTypeName")
    name = str(type_name.get("Value", "")) if isinstance(type_name, dict) else ""
    return VIRTUAL_KINDS.get(name, kind) if kind == "Virtual" else kind


def _options(raw: dict[str, Any]) -> list[tuple[int, str]]:
    sets = [raw.get("OptionSet"), raw.get("GlobalOptionSet")]
    for option_set in sets:
        if isinstance(option_set, dict) and option_set.get("Options"):
            return [(int(o["Value"]), label(o.get("Label"))) for o in option_set["Options"]
                    if isinstance(o, dict) and "Value" in o]
    return []


def build_type(entity: dict[str, Any], entry: CatalogEntry, lookups: Iterable[dict[str, Any]],
               choice_sets: Iterable[dict[str, Any]], views: tuple[View, ...]) -> TypeMeta:
    logical = entry.logical_name
    targets = {str(r.get("LogicalName")): tuple(r.get("Targets") or ()) for r in lookups}
    options = {str(r.get("LogicalName")): _options(r) for r in choice_sets}
    attrs: dict[str, Attribute] = {}
    for raw in entity.get("Attributes") or []:
        if raw.get("AttributeOf") or raw.get("IsValidForRead") is False:
            continue  # helper columns such as owneridname belong to their lookup
        name = str(raw["LogicalName"])
        attrs[name] = Attribute(name, attribute_type(raw), label(raw.get("DisplayName")) or name,
                                targets.get(name, ()), tuple(lbl for _, lbl in options.get(name, [])))
    keys = [tuple(k.get("KeyAttributes") or ()) for k in entity.get("Keys") or []]
    number = NUMBER_COLUMNS.get(logical) or next((k[0] for k in keys if len(k) == 1), None)
    customizable = entity.get("IsCustomizable")
    virtual = entity.get("TableType") == "Virtual" or bool(entity.get("DataProviderId"))
    rt = RecordType(logical_name=logical, display_name=entry.display_name,
                    primary_name=str(entity.get("PrimaryNameAttribute") or ""),
                    number=number if number in attrs else None, aliases=entry.aliases(), attributes=attrs,
                    views=views, virtual=virtual,
                    update_events=not virtual and (customizable.get("Value", True)
                                                   if isinstance(customizable, dict) else True))
    return TypeMeta(rt, entry.entity_set, str(entity.get("PrimaryIdAttribute") or f"{logical}id"),
                    frozenset(k[0] for k in keys if len(k) == 1),
                    {n: {lbl.lower(): v for v, lbl in opts} for n, opts in options.items()})


def parse_views(rows: Iterable[dict[str, Any]]) -> tuple[View, ...]:
    """Views from savedquery rows; a view's column order is the order of <cell> in its layoutxml."""
    views = []
    for row in rows:
        try:
            grid = ET.fromstring(str(row.get("layoutxml") or ""))
        except ET.ParseError:
            log.warning("savedquery %s (%s) has unreadable layoutxml; skipped", row.get("savedqueryid"),
                        row.get("name"))
            continue
        columns = tuple(cell.get("name", "") for cell in grid.iter("cell")
                        if cell.get("name") and cell.get("ishidden") not in ("1", "true"))
        views.append(View(str(row.get("name") or ""), columns, row.get("querytype") == QUICK_FIND,
                          str(row.get("savedqueryid") or "")))
    return tuple(views)


class TtlCache:
    """Values that rarely change (metadata, views), loaded once per key and kept for `ttl` seconds."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self._clock = clock
        self._values: dict[Any, tuple[float, Any]] = {}
        self._locks: dict[Any, asyncio.Lock] = {}

    async def get(self, key: Any, load: Callable[[], Awaitable[Any]]) -> Any:
        hit = self._values.get(key)
        if hit and hit[0] > self._clock():
            return hit[1]
        async with self._locks.setdefault(key, asyncio.Lock()):
            hit = self._values.get(key)
            if hit and hit[0] > self._clock():
                return hit[1]  # another caller loaded it while we waited
            value = await load()
            self._values[key] = (self._clock() + self.ttl, value)
            return value

    def drop(self, key: Any) -> None:
        self._values.pop(key, None)
