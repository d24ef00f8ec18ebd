"""Reads and checks the local directory JSON file; a malformed file stops start-up with a message naming it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from domain.model import Attribute, RecordType, Team, User, View


class DirectoryError(Exception):
    """The directory file cannot be used; the message names the file and the problem."""


def load(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DirectoryError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DirectoryError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise DirectoryError(f"{path}: the top level must be a JSON object")
    return data


def _need(cond: bool, path: Path, where: str, problem: str) -> None:
    if not cond:
        raise DirectoryError(f"{path}: {where}: {problem}")


def parse_users(data: dict[str, Any], path: Path) -> list[User]:
    users = []
    for i, raw in enumerate(data.get("users", [])):
        where = f"users[{i}]"
        _need(isinstance(raw, dict), path, where, "must be an object")
        for key in ("id", "aadObjectId", "name"):
            _need(isinstance(raw.get(key), str) and raw[key] != "", path, where, f'"{key}" must be a non-empty string')
        users.append(User(id=raw["id"], aad_object_id=raw["aadObjectId"].lower(), name=raw["name"],
                          email=str(raw.get("email", "")), roles=tuple(raw.get("roles", [])),
                          teams=tuple(raw.get("teams", [])), disabled=bool(raw.get("disabled", False))))
    return users


def parse_teams(data: dict[str, Any], users: list[User], path: Path) -> list[Team]:
    teams = []
    for i, raw in enumerate(data.get("teams", [])):
        _need(isinstance(raw, dict) and isinstance(raw.get("id"), str), path, f"teams[{i}]", 'needs an "id"')
        members = tuple(u.id for u in users if raw["id"] in u.teams)
        teams.append(Team(id=raw["id"], name=str(raw.get("name", raw["id"])),
                          administrator=raw.get("administrator"), members=members))
    return teams


def parse_roles(data: dict[str, Any], path: Path) -> dict[str, dict[str, Any]]:
    roles = data.get("roles", {})
    _need(isinstance(roles, dict), path, "roles", "must be an object of role name -> definition")
    for name, role in roles.items():
        access = role.get("access", {}) if isinstance(role, dict) else None
        if not isinstance(access, dict):
            raise DirectoryError(f'{path}: roles.{name}: "access" must be an object')
        for rtype, level in access.items():
            _need(level in ("none", "read", "write"), path, f"roles.{name}.access.{rtype}",
                  f'must be "none", "read" or "write", not {level!r}')
    return roles


def parse_record_types(data: dict[str, Any], path: Path) -> list[RecordType]:
    types = []
    raw_types = data.get("recordTypes", {})
    _need(isinstance(raw_types, dict), path, "recordTypes", "must be an object")
    for name, raw in raw_types.items():
        where = f"recordTypes.{name}"
        _need(isinstance(raw, dict), path, where, "must be an object")
        _need(isinstance(raw.get("primaryName"), str), path, where, '"primaryName" is required')
        attrs = {}
        for attr_name, a in (raw.get("attributes") or {}).items():
            _need(isinstance(a, dict) and isinstance(a.get("type"), str), path,
                  f"{where}.attributes.{attr_name}", '"type" is required')
            attrs[attr_name] = Attribute(attr_name, a["type"], str(a.get("displayName", attr_name)),
                                         tuple(a.get("targets", ())), tuple(a.get("options", ())))
        views = []
        for j, v in enumerate(raw.get("views", [])):
            _need(isinstance(v, dict) and isinstance(v.get("name"), str) and isinstance(v.get("columns"), list),
                  path, f"{where}.views[{j}]", 'needs "name" and a "columns" list')
            views.append(View(v["name"], tuple(v["columns"]), bool(v.get("quickFind", False)), v.get("id", v["name"])))
        types.append(RecordType(
            logical_name=name, display_name=str(raw.get("displayName", name)), primary_name=raw["primaryName"],
            number=raw.get("number"), aliases=tuple(raw.get("aliases", ())), attributes=attrs, views=tuple(views),
            virtual=bool(raw.get("virtual", False)), update_events=bool(raw.get("updateEvents", True))))
    return types


OPERATORS = ("eq", "ne", "in", "not-in")


def parse_quick_find(data: dict[str, Any], path: Path) -> dict[str, tuple[tuple[str, str, tuple[str, ...]], ...]]:
    """Each type's Quick Find view conditions, as Dataverse's Quick Find views carry (e.g. "Quick Find Active
    Cases": statecode eq Active): [{"attribute", "operator": eq | ne | in | not-in, "value" or "values"}], values
    as the directory writes them (option labels). Text search applies them, as Dataverse's Quick Find does."""
    out = {}
    for name, raw in (data.get("recordTypes") or {}).items():
        view = next((v for v in raw.get("views", []) if v.get("quickFind")), None)
        conditions = (view or {}).get("conditions") or []
        where = f"recordTypes.{name}.views[quickFind].conditions"
        _need(isinstance(conditions, list), path, where, "must be a list")
        parsed = []
        for j, c in enumerate(conditions):
            ok = isinstance(c, dict) and isinstance(c.get("attribute"), str) and c.get("operator") in OPERATORS
            _need(ok, path, f"{where}[{j}]", f'needs "attribute" and an "operator" ({", ".join(OPERATORS)})')
            values = c.get("values") if c["operator"] in ("in", "not-in") else [c.get("value")]
            _need(isinstance(values, list) and all(isinstance(v, str | int | float | bool) for v in values), path,
                  f"{where}[{j}]", '"value" (eq, ne) or a "values" list (in, not-in) of plain values is required')
            parsed.append((c["attribute"], c["operator"], tuple(str(v) for v in values)))
        if parsed:
            out[name] = tuple(parsed)
    return out


def parse_records(data: dict[str, Any], types: list[RecordType], path: Path) -> dict[str, list[dict[str, Any]]]:
    known = {t.logical_name for t in types}
    out: dict[str, list[dict[str, Any]]] = {}
    for rtype, rows in (data.get("records") or {}).items():
        _need(rtype in known, path, f"records.{rtype}", "no such record type in recordTypes")
        _need(isinstance(rows, list), path, f"records.{rtype}", "must be a list")
        for i, row in enumerate(rows):
            _need(isinstance(row, dict) and isinstance(row.get("id"), str), path,
                  f"records.{rtype}[{i}]", 'needs a string "id"')
        out[rtype] = [dict(r) for r in rows]
    return out
