"""Builds the fake Dataverse's tables from a local directory JSON, so both record sources hold the same data.

Dataverse ids are GUIDs and it rejects anything else; `guid_directory` rewrites a directory's non-GUID ids
(e.g. the demo's "tier1" team or "k0000001-..." article) to stable GUIDs everywhere they appear.
"""
from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

NS = uuid.UUID("5d1f2c3a-9b4e-4c1d-8f0a-6e2b7c9d0a11")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
BUSINESS_UNIT = str(uuid.uuid5(NS, "root business unit"))
CHOICES = {"Picklist": 1, "State": 0, "Status": 1}  # first option value Dataverse uses per choice type
LOOKUPS = frozenset({"Lookup", "Customer", "Owner"})
# The local file names Image/File/multi-select columns directly; Dataverse reports them as Virtual.
VIRTUAL = {"Image": "ImageType", "File": "FileType", "MultiSelectPicklist": "MultiSelectPicklistType"}
COLLECTIONS = {"email": "Email Messages"}
ACTIVITIES = frozenset({"email", "chat"})


DEMO = Path(__file__).resolve().parent.parent / "records" / "demo-directory.json"


def stable_guid(text: str) -> str:
    return str(uuid.uuid5(NS, text))


def demo_data() -> tuple[dict[str, Any], dict[str, str]]:
    """The demo directory with GUID ids plus a few edge cases both sources must treat alike: a virtual table
    (no update events), a multi-select column, and a work order owned by a team whose members' roles only read."""
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    data["recordTypes"]["msdyn_externalorder"] = {
        "displayName": "External Order", "primaryName": "msdyn_name", "virtual": True, "updateEvents": False,
        "attributes": {"msdyn_name": {"type": "String", "displayName": "Name"}},
        "views": [{"name": "Quick Find External Orders", "quickFind": True, "columns": ["msdyn_name"]}]}
    data["recordTypes"]["account"]["attributes"]["msdyn_tags"] = {"type": "MultiSelectPicklist",
                                                                  "displayName": "Tags"}
    data["records"]["msdyn_workorder"].append({
        "id": "w0000002-0000-4000-8000-000000000002", "msdyn_name": "WO-00043",
        "msdyn_serviceaccount": {"type": "account", "id": "a0000002-0000-4000-8000-000000000002"},
        "msdyn_priority": "Normal", "ownerid": {"type": "team", "id": "tier1"}})
    return guid_directory(data)


def guid_directory(data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """A copy of `data` whose user, team, record and Entra object ids are all GUIDs, and the id mapping used."""
    ids = [u.get("id") for u in data.get("users", [])] + [u.get("aadObjectId") for u in data.get("users", [])]
    ids += [t.get("id") for t in data.get("teams", [])]
    ids += [r.get("id") for rows in (data.get("records") or {}).values() for r in rows]
    mapping = {i: stable_guid(i) for i in ids if isinstance(i, str) and not GUID.match(i.lower())}
    mapping.update({i: i.lower() for i in ids if isinstance(i, str) and GUID.match(i.lower()) and i != i.lower()})

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return mapping.get(value, value)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: walk(v) for k, v in value.items()}
        return value

    return walk(copy.deepcopy(data)), mapping


class Ref(NamedTuple):
    kind: str
    id: str


@dataclass
class Attr:
    name: str
    type: str  # the domain's type name (Image, File, ...); serialized as Dataverse reports it
    display: str
    targets: list[str] = field(default_factory=list)
    options: list[tuple[int, str]] = field(default_factory=list)

    def value_of(self, text: str) -> int | None:
        return next((v for v, lbl in self.options if lbl.lower() == text.lower()), None)

    def label_of(self, value: Any) -> str | None:
        return next((lbl for v, lbl in self.options if v == value), None)


@dataclass
class Table:
    logical: str
    display: str
    primary_id: str
    primary_name: str
    attrs: dict[str, Attr]
    strict: bool = True  # tables from the directory reject unknown columns, as Dataverse does
    virtual: bool = False
    customizable: bool = True
    keys: list[list[str]] = field(default_factory=list)
    entity_set: str = ""
    navs: dict[str, str] = field(default_factory=dict)  # single-valued navigation property -> attribute

    def __post_init__(self) -> None:
        self.entity_set = self.entity_set or self.logical + "s"

    @property
    def collection(self) -> str:
        return COLLECTIONS.get(self.logical, self.display + "s")

    def nav_attribute(self, nav: str) -> str | None:
        if nav in self.navs:
            return self.navs[nav]
        match = re.match(r"^regardingobjectid_(\w+)_" + self.logical + "$", nav)
        if match and "regardingobjectid" in self.attrs:
            return "regardingobjectid"
        return nav if nav in self.attrs and self.attrs[nav].type in LOOKUPS else None


def _system_tables() -> list[Table]:
    def a(name: str, kind: str = "String", **kw: Any) -> Attr:
        return Attr(name, kind, name, **kw)

    chat_attrs = [a("activityid", "Uniqueidentifier"), a("subject"), a("teamschatid"), a("description", "Memo"),
                  a("regardingobjectid", "Lookup"), a("linkedby", "Lookup", targets=["systemuser"]),
                  a("linkedon", "DateTime"), a("unlinkedon", "DateTime"), a("modifiedinteamson", "DateTime"),
                  a("syncstatus", "Picklist", options=[(0, "Not Enabled"), (1, "Pending"), (2, "Enabled")]),
                  a("statecode", "State", options=[(0, "Open"), (1, "Completed"), (2, "Canceled")]),
                  a("statuscode", "Status", options=[(1, "Open"), (2, "Completed"), (3, "Canceled")])]
    return [
        Table("systemuser", "User", "systemuserid", "fullname", {}, strict=False),
        Table("team", "Team", "teamid", "name", {"administratorid": a("administratorid", "Lookup")}, strict=False),
        Table("role", "Security Role", "roleid", "name", {}, strict=False),
        Table("privilege", "Privilege", "privilegeid", "name", {}, strict=False),
        # The activity base table: one row per activity of any activity table (filled from them on every read).
        Table("activitypointer", "Activity", "activityid", "subject", {
            "regardingobjectid": a("regardingobjectid", "Lookup"), "ownerid": a("ownerid", "Owner")}, strict=False),
        Table("appmodule", "Model-driven App", "appmoduleid", "name", {}, strict=False),
        Table("savedquery", "View", "savedqueryid", "name", {}, strict=False, entity_set="savedqueries"),
        Table("chat", "Teams chat", "activityid", "subject", {x.name: x for x in chat_attrs}, strict=False),
        Table("serviceendpoint", "Service Endpoint", "serviceendpointid", "name", {}, strict=False),
        Table("sdkmessage", "Sdk Message", "sdkmessageid", "name", {}, strict=False),
        Table("sdkmessagefilter", "Sdk Message Filter", "sdkmessagefilterid", "", {
            "sdkmessageid": a("sdkmessageid", "Lookup")}, strict=False),
        Table("sdkmessageprocessingstep", "Sdk Message Processing Step", "sdkmessageprocessingstepid", "name", {
            "sdkmessageid": a("sdkmessageid", "Lookup"), "sdkmessagefilterid": a("sdkmessagefilterid", "Lookup"),
            "eventhandler": a("eventhandler", "Lookup")}, strict=False,
            navs={"eventhandler_serviceendpoint": "eventhandler"}),
        # Case resolutions (the activity Dataverse creates when a case is resolved): who, when, which case.
        Table("incidentresolution", "Case Resolution", "activityid", "subject", {x.name: x for x in [
            a("activityid", "Uniqueidentifier"), a("subject"), a("incidentid", "Lookup", targets=["incident"]),
            a("description", "Memo"), a("createdon", "DateTime"), a("actualend", "DateTime"),
            a("createdby", "Lookup", targets=["systemuser"]),
            a("statecode", "State", options=[(0, "Open"), (1, "Completed"), (2, "Canceled")])]}, strict=False,
              entity_set="incidentresolutions"),
        Table("sdkmessageprocessingstepimage", "Sdk Message Processing Step Image",
              "sdkmessageprocessingstepimageid", "name", {
                  "sdkmessageprocessingstepid": a("sdkmessageprocessingstepid", "Lookup")}, strict=False),
    ]


def _record_table(name: str, raw: dict[str, Any], rows: list[dict[str, Any]]) -> Table:
    primary_id = "activityid" if name in ACTIVITIES else f"{name}id"
    attrs = {primary_id: Attr(primary_id, "Uniqueidentifier", primary_id)}
    for attr_name, a in (raw.get("attributes") or {}).items():
        kind = a["type"]
        labels = list(a.get("options", []))
        labels += [r[attr_name] for r in rows if isinstance(r.get(attr_name), str) and r[attr_name] not in labels]
        first = CHOICES.get(kind)
        options = [(first + i, lbl) for i, lbl in enumerate(dict.fromkeys(labels))] if first is not None else []
        attrs[attr_name] = Attr(attr_name, kind, a.get("displayName", attr_name), list(a.get("targets", [])),
                                options)
    return Table(name, raw.get("displayName", name), primary_id, raw["primaryName"], attrs,
                 virtual=bool(raw.get("virtual")), customizable=bool(raw.get("updateEvents", True)))


def _row(table: Table, raw: dict[str, Any]) -> dict[str, Any]:
    row: dict[str, Any] = {table.primary_id: raw["id"].lower()}
    for key, value in raw.items():
        attr = table.attrs.get(key)
        if key == "id" or attr is None:
            continue
        if isinstance(value, dict):
            row[key] = Ref(value["type"], str(value["id"]).lower())
        elif attr.options:
            row[key] = attr.value_of(str(value))
        elif attr.type == "Money":
            row[key] = float(str(value).replace("$", "").replace(",", ""))
        else:
            row[key] = value
    return row


def layoutxml(table: Table, columns: list[str]) -> str:
    cells = "".join(f'<cell name="{c}" width="150" />' for c in columns)
    return (f'<grid name="resultset" object="0" jump="{table.primary_name}" select="1" icon="1" preview="1">'
            f'<row name="result" id="{table.primary_id}">{cells}</row></grid>')


def fetchxml(table: Table, columns: list[str], find: Sequence[str] = ()) -> str:
    # Alphabetical on purpose: only layoutxml gives a view's column order.
    attrs = "".join(f'<attribute name="{c}" />' for c in sorted(c for c in columns if "." not in c))
    conditions = ""
    if find:  # a Quick Find view: its find columns are the conditions of the isquickfindfields filter
        finds = "".join(f'<condition attribute="{c}" operator="like" value="{{0}}" />' for c in find)
        conditions = (f'<filter type="and"><condition attribute="statecode" operator="eq" value="0" />'
                      f'<filter type="or" isquickfindfields="1">{finds}</filter></filter>')
    return f'<fetch version="1.0"><entity name="{table.logical}">{attrs}{conditions}</entity></fetch>'


def find_columns(table: Table, number: str | None) -> list[str]:
    """What a Quick Find view searches out of the box: the name, the number, and the customer (a lookup)."""
    return [c for c in (table.primary_name, number, "customerid") if c and c in table.attrs]


def seed_tables(data: dict[str, Any]) -> tuple[dict[str, Table], dict[str, dict[str, dict[str, Any]]]]:
    """Tables and rows (logical name -> id -> row) from a GUID directory."""
    tables = {t.logical: t for t in _system_tables()}
    rows: dict[str, dict[str, dict[str, Any]]] = {t: {} for t in tables}
    records = data.get("records") or {}
    for name, raw in (data.get("recordTypes") or {}).items():
        table = _record_table(name, raw, records.get(name, []))
        tables[name] = table
        rows[name] = {r["id"].lower(): _row(table, r) for r in records.get(name, [])}
        for view in raw.get("views", []):
            quick = bool(view.get("quickFind"))
            add_view(rows, table, view["name"], view["columns"], 4 if quick else 0,
                     find=find_columns(table, raw.get("number")) if quick else ())
        # Views agents never pick, which the source must leave out: a lookup view and an inactive one.
        add_view(rows, table, f"{table.display} Lookup View", [table.primary_name], 64)
        add_view(rows, table, f"Inactive {table.collection}", [table.primary_name], 0, statecode=1)
    for case in records.get("incident", []):
        if isinstance(case.get("resolvedby"), dict):  # the directory's resolved cases, as Dataverse records them
            rid = stable_guid("resolution:" + case["id"].lower())
            rows["incidentresolution"][rid] = {
                "activityid": rid, "subject": "Case resolved", "incidentid": Ref("incident", case["id"].lower()),
                "actualend": case.get("resolvedon"), "statecode": 1,
                "createdby": Ref("systemuser", str(case["resolvedby"]["id"]).lower())}
    for user in data.get("users", []):
        rows["systemuser"][user["id"]] = {
            "systemuserid": user["id"], "fullname": user["name"], "internalemailaddress": user.get("email"),
            "azureactivedirectoryobjectid": user["aadObjectId"].lower(), "isdisabled": bool(user.get("disabled"))}
    for team in data.get("teams", []):
        admin = team.get("administrator")
        rows["team"][team["id"]] = {"teamid": team["id"], "name": team.get("name", team["id"]),
                                    "administratorid": Ref("systemuser", admin) if admin else None}
    for name in {*(data.get("roles") or {}), *(r for u in data.get("users", []) for r in u.get("roles", []))}:
        rows["role"][stable_guid("role:" + name)] = {"roleid": stable_guid("role:" + name), "name": name}
    for privilege in {p for r in (data.get("roles") or {}).values() for p in r.get("privileges", [])}:
        name = "prv" + privilege[:1].upper() + privilege[1:]
        rows["privilege"][stable_guid("privilege:" + name)] = {"privilegeid": stable_guid("privilege:" + name),
                                                              "name": name}
    for app in ("Customer Service workspace", "Customer Service Hub", "Contact Center workspace", "Sales Hub"):
        rows["appmodule"][stable_guid("app:" + app)] = {"appmoduleid": stable_guid("app:" + app), "name": app}
    for message in ("Create", "Update", "Delete"):
        mid = stable_guid("message:" + message)
        rows["sdkmessage"][mid] = {"sdkmessageid": mid, "name": message}
        for name, table in tables.items():
            if (table.strict and not table.virtual) or name == "incidentresolution":  # plug-in steps allowed
                fid = stable_guid(f"filter:{message}:{name}")
                rows["sdkmessagefilter"][fid] = {"sdkmessagefilterid": fid, "primaryobjecttypecode": name,
                                                 "sdkmessageid": Ref("sdkmessage", mid),
                                                 "iscustomprocessingstepallowed": table.customizable}
    return tables, rows


def add_view(rows: dict[str, dict[str, dict[str, Any]]], table: Table, name: str, columns: list[str],
             querytype: int, statecode: int = 0, find: Sequence[str] = ()) -> str:
    vid = stable_guid(f"view:{table.logical}:{name}")
    rows["savedquery"][vid] = {"savedqueryid": vid, "name": name, "returnedtypecode": table.logical,
                               "querytype": querytype, "statecode": statecode,
                               "layoutxml": layoutxml(table, columns), "fetchxml": fetchxml(table, columns, find)}
    return vid
