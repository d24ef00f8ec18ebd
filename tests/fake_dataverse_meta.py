"""EntityDefinitions answers for the fake Dataverse: tables, attributes (with casts), option sets, keys."""
from __future__ import annotations

from typing import Any

from tests.fake_dataverse_odata import ODataError, label, parse_expand
from tests.fake_dataverse_seed import ACTIVITIES, LOOKUPS, VIRTUAL, Attr, Table, stable_guid

CASTS = {"LookupAttributeMetadata": LOOKUPS, "PicklistAttributeMetadata": {"Picklist"},
         "StateAttributeMetadata": {"State"}, "StatusAttributeMetadata": {"Status"},
         "StringAttributeMetadata": {"String"}, "MemoAttributeMetadata": {"Memo"},
         "ImageAttributeMetadata": {"Image"}, "FileAttributeMetadata": {"File"},
         "MultiSelectPicklistAttributeMetadata": {"MultiSelectPicklist"}}
CAST_PREFIX = "Microsoft.Dynamics.CRM."


def _pick(obj: dict[str, Any], select: str | None) -> dict[str, Any]:
    if not select:
        return obj
    wanted = {s.strip() for s in select.split(",")} | {"MetadataId"}
    return {k: v for k, v in obj.items() if k in wanted or k.startswith("@odata")}


def entity_json(table: Table) -> dict[str, Any]:
    kind = "Virtual" if table.virtual else "Activity" if table.logical in ACTIVITIES else "Standard"
    return {"MetadataId": stable_guid("entity:" + table.logical), "LogicalName": table.logical,
            "SchemaName": table.logical, "EntitySetName": table.entity_set, "PrimaryIdAttribute": table.primary_id,
            "PrimaryNameAttribute": table.primary_name, "DisplayName": label(table.display),
            "DisplayCollectionName": label(table.collection),
            "IsCustomizable": {"Value": table.customizable, "CanBeChanged": False,
                               "ManagedPropertyLogicalName": "iscustomizable"},
            "TableType": kind, "DataProviderId": stable_guid("virtual provider") if table.virtual else None}


def _cast_of(attr: Attr) -> str:
    return next((c for c, kinds in CASTS.items() if attr.type in kinds), "AttributeMetadata")


def attribute_json(table: Table, attr: Attr) -> dict[str, Any]:
    out: dict[str, Any] = {
        "@odata.type": f"#{CAST_PREFIX}{_cast_of(attr)}",
        "MetadataId": stable_guid(f"attr:{table.logical}:{attr.name}"),
        "LogicalName": attr.name, "AttributeType": "Virtual" if attr.type in VIRTUAL else attr.type,
        "AttributeTypeName": {"Value": VIRTUAL.get(attr.type, attr.type + "Type")},
        "DisplayName": label(attr.display), "AttributeOf": None, "IsValidForRead": True}
    if attr.type in LOOKUPS:
        out["Targets"] = list(attr.targets)
    return out


def _all_attributes(table: Table) -> list[tuple[Attr, str | None]]:
    """The table's attributes plus, per lookup, the `<lookup>name` helper Dataverse lists with AttributeOf set
    (metadata only: the Web API has no such property, so selecting one is an error)."""
    out: list[tuple[Attr, str | None]] = []
    for attr in table.attrs.values():
        out.append((attr, None))
        if attr.type in LOOKUPS:
            out.append((Attr(attr.name + "name", "String", ""), attr.name))
    return out


def _described(table: Table, attr: Attr, attribute_of: str | None) -> dict[str, Any]:
    return {**attribute_json(table, attr), "AttributeOf": attribute_of}


def _with_options(obj: dict[str, Any], attr: Attr, expand: dict[str, dict[str, str]]) -> dict[str, Any]:
    # An expanded navigation property comes back whatever $select says.
    if "OptionSet" in expand and attr.type in ("Picklist", "State", "Status"):
        obj["OptionSet"] = {"Options": [{"Value": v, "Label": label(lbl)} for v, lbl in attr.options]}
    return obj


def answer(tables: dict[str, Table], segments: list[str], key: str | None,
           query: dict[str, str]) -> dict[str, Any]:
    """EntityDefinitions, EntityDefinitions(LogicalName='x'), .../Attributes[/Microsoft.Dynamics.CRM.<Cast>]."""
    select, expand = query.get("$select"), parse_expand(query.get("$expand", ""))
    if key is None:
        if len(segments) > 1:
            raise ODataError(400, "Resource not found for the segment 'EntityDefinitions'.")
        return {"value": [_pick(entity_json(t), select) for t in tables.values()]}
    logical = key.removeprefix("LogicalName=").strip("'")
    table = tables.get(logical)
    if table is None or not key.startswith("LogicalName="):
        raise ODataError(404, f"Could not find entity with name {logical!r}.", "0x80040217")
    if len(segments) == 1:
        out = _pick(entity_json(table), select)
        for nav, opts in expand.items():
            if nav == "Attributes":
                out[nav] = [_pick(_described(table, a, of), opts.get("$select")) for a, of in _all_attributes(table)]
            elif nav == "Keys":
                out[nav] = [_pick({"MetadataId": stable_guid(f"key:{table.logical}:{k}"), "KeyAttributes": list(k),
                                   "LogicalName": "_".join(k)}, opts.get("$select")) for k in table.keys]
            else:
                raise ODataError(400, f"Could not find a property named '{nav}' on type EntityMetadata.")
        return out
    if segments[1] != "Attributes" or len(segments) > 3:
        raise ODataError(400, f"Resource not found for the segment '{segments[1]}'.")
    attrs = _all_attributes(table)
    if len(segments) == 3:
        cast = segments[2].removeprefix(CAST_PREFIX)
        if cast not in CASTS:
            raise ODataError(400, f"Unknown attribute metadata type '{segments[2]}'.")
        attrs = [(a, of) for a, of in attrs if a.type in CASTS[cast]]
    return {"value": [_with_options(_pick(_described(table, a, of), select), a, expand) for a, of in attrs]}
