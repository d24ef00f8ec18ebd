"""The embedded CRM: a JSON directory file, indexed once at start, changed in memory by `set`."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from domain.model import (
    ACCESS_ORDER,
    Access,
    ChangeEvent,
    Owner,
    Record,
    RecordType,
    RoleGrant,
    Team,
    TimelineChat,
    User,
    View,
)
from domain.profiles import OrgProfile
from domain.similar import IndexedCase, case_text, parse_when
from records import directory_file as df
from records import local_search
from records.local_timeline import MemoryTimeline, TimelineRows

DEMO_PATH = Path(__file__).with_name("demo-directory.json")
RESOLVED_PAGE = 500


class LocalRecordSource:
    index_at_start = True  # the file is the whole history: app.py indexes its resolved cases on start
    # The directory has no admin center of its own: the settings page's role list is the only role grant.
    role_grant = RoleGrant.SETTINGS

    def __init__(self, path: Path, public_url: str = "") -> None:
        data = df.load(path)
        users = df.parse_users(data, path)
        self._types = {t.logical_name: t for t in df.parse_record_types(data, path)}
        self._roles = df.parse_roles(data, path)
        self._users = {u.id: u for u in users}
        self._by_aad = {u.aad_object_id: u for u in users}
        self._by_email = {u.email.lower(): u for u in users if u.email}
        self._teams = {t.id: t for t in df.parse_teams(data, users, path)}
        self._rows = df.parse_records(data, list(self._types.values()), path)
        self._quick_find = df.parse_quick_find(data, path)
        self._by_id = {(t, r["id"].lower()): r for t, rows in self._rows.items() for r in rows}
        self._by_number = {(t, str(r[num]).lower()): r for t, rows in self._rows.items()
                           if (num := self._types[t].number) for r in rows if r.get(num)}
        self._names = {n: t for t in self._types.values() for n in t.names()}
        self._public_url = public_url.rstrip("/")
        # Built records by (type, row id): every `records` turn reads the same few. A change (`set`) clears it,
        # since a record's values also show other records' names.
        self._built: dict[tuple[str, str], Record] = {}
        apps = data.get("apps")  # optional: app id -> app name, for record links that carry an appid
        self._apps = {str(k).lower(): v for k, v in apps.items()} if isinstance(apps, dict) else {}
        self._timeline: TimelineRows = MemoryTimeline()

    def keep_timeline_in(self, rows: TimelineRows) -> None:
        """Persist the timeline (the app passes its database-backed store at start)."""
        self._timeline = rows

    def acting_as(self, user: User) -> LocalRecordSource:
        return self  # the directory checks access itself and has no field-level security

    async def record_types(self) -> Sequence[RecordType]:
        return list(self._types.values())

    async def record_type(self, name: str) -> RecordType | None:
        return self._names.get(name.strip().lower())

    async def search_types(self, text: str, limit: int = 20) -> Sequence[tuple[str, str]]:
        wanted = text.strip().lower()
        hits = [(t.logical_name, t.display_name) for t in self._types.values()
                if wanted in t.logical_name.lower() or wanted in t.display_name.lower()]
        return sorted(hits, key=lambda h: h[1].lower())[:limit]

    async def views(self, record_type: str) -> Sequence[View]:
        rt = self._types.get(record_type)
        return rt.views if rt else ()

    async def get_record(self, record_type: str, key: str) -> Record | None:
        k = (record_type, key.strip().lower())
        row = self._by_id.get(k) or self._by_number.get(k)
        if row is None:
            return None
        built = self._built.get((record_type, row["id"]))
        if built is None:
            built = self._built[(record_type, row["id"])] = self._to_record(record_type, row)
        return built

    async def search(self, types: Sequence[RecordType], text: str, limit: int,
                     owner_id: str | None = None) -> Sequence[Record]:
        """domain.search.RecordSearch over the directory's rows."""
        found = local_search.matches([self._types[t.logical_name] for t in types if t.logical_name in self._types],
                                     self._rows, text, limit, owner_id, self._quick_find)
        return [self._to_record(kind, row) for kind, row in found]

    async def user_by_aad(self, aad_object_id: str) -> User | None:
        return self._by_aad.get(aad_object_id.lower())

    async def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def users_by_email(self, emails: Sequence[str]) -> Sequence[User]:
        return [u for e in emails if (u := self._by_email.get(e.lower()))]

    async def app_name(self, app_id: str) -> str | None:
        name = self._apps.get(app_id.strip().lower())
        return str(name) if name else None

    async def search_users(self, text: str, limit: int = 10) -> Sequence[User]:
        wanted = text.strip().lower()
        found = [u for u in self._users.values() if not u.disabled and wanted
                 and (wanted in u.name.lower() or wanted in u.email.lower())]
        return sorted(found, key=lambda u: u.name.lower())[:limit]

    async def app_profiles(self) -> Sequence[OrgProfile] | None:
        """The directory has no agent experience profiles of its own: the settings page's profiles apply."""
        return None

    async def user_app_profiles(self, user_id: str) -> frozenset[str]:
        return frozenset()

    async def team(self, team_id: str) -> Team | None:
        return self._teams.get(team_id)

    async def access(self, user: User, record: Record) -> Access:
        if user.disabled:
            return "none"
        if record.owner and (record.owner.id == user.id or record.owner.id in user.teams):
            return "write"
        best: Access = "none"
        for role in user.roles:
            level = self._roles.get(role, {}).get("access", {}).get(record.type, "none")
            if ACCESS_ORDER[level] > ACCESS_ORDER[best]:
                best = level
        return best

    async def privileges(self, user: User) -> frozenset[str]:
        return frozenset(p for role in user.roles for p in self._roles.get(role, {}).get("privileges", []))

    async def roles_with_privilege(self, privilege: str) -> Sequence[str]:
        return sorted(n for n, r in self._roles.items() if privilege in r.get("privileges", []))

    async def activity_owners(self, record: Record) -> Sequence[str]:
        """Owners of the directory's activity rows (any type with a `regardingobjectid`) about this record."""
        found: list[tuple[str, str]] = []
        for rows in self._rows.values():
            for row in rows:
                about, owner = row.get("regardingobjectid"), row.get("ownerid")
                if (isinstance(about, dict) and isinstance(owner, dict) and owner.get("type") == "systemuser"
                        and about.get("type") == record.type and str(about.get("id", "")).lower() == record.id.lower()):
                    when = str(row.get("actualend") or row.get("modifiedon") or row.get("createdon") or "")
                    found.append((when, str(owner["id"])))
        found.sort(reverse=True)
        return list(dict.fromkeys(uid for _, uid in found))

    async def lookup_user(self, record: Record, path: Sequence[str]) -> User | None:
        row = self._by_id.get((record.type, record.id.lower()))
        for step in path:
            ref = row.get(step) if row else None
            if not isinstance(ref, dict):
                return None
            if ref.get("type") == "systemuser":
                return self._users.get(ref.get("id", ""))
            row = self._by_id.get((ref.get("type", ""), str(ref.get("id", "")).lower()))
        return None

    async def update_record(self, user: User, record: Record, attribute: str, value: str) -> ChangeEvent:
        row = self._by_id[(record.type, record.id.lower())]
        old = self._format(record.type, attribute, row.get(attribute))
        attr = self._types[record.type].attributes.get(attribute)
        owner = self._owner_named(value) if attr and attr.type == "Owner" else None
        row[attribute] = {"type": owner[0], "id": owner[1]} if owner else value
        self._built.clear()
        new = self._format(record.type, attribute, row[attribute])
        return ChangeEvent(event_id=f"local:{uuid.uuid4()}", record_type=record.type, record_id=record.id,
                           changed={attribute: (old, new)}, changed_by=user.name,
                           changed_at=datetime.now().astimezone(), new_owner=owner)

    def _owner_named(self, text: str) -> tuple[str, str]:
        """A new owner typed by name, email or id: a user first, else a team (issue 15)."""
        wanted = text.strip().lower()
        for user in self._users.values():
            if wanted in (user.name.lower(), user.email.lower(), user.id.lower()) and not user.disabled:
                return "systemuser", user.id
        for team in self._teams.values():
            if wanted in (team.name.lower(), team.id.lower()):
                return "team", team.id
        raise ValueError(f"no active user or team is named {text!r}")

    async def add_timeline_chat(self, record: Record, chat_id: str, linked_by: User, at: datetime) -> None:
        await self._timeline.add(record.type, record.id, chat_id, linked_by.name, at)

    async def unlink_timeline_chat(self, record: Record, chat_id: str, at: datetime) -> None:
        await self._timeline.unlink(record.type, record.id, chat_id, at)

    async def touch_timeline_chat(self, record_type: str, record_id: str, chat_id: str,
                                  sender: str, at: datetime) -> None:
        await self._timeline.touch(record_type, record_id, chat_id, sender, at)

    async def timeline_chats(self, record: Record) -> Sequence[TimelineChat]:
        return await self._timeline.for_record(record.type, record.id)

    async def resolved_cases(self, record_type: str, fields: Sequence[str], cursor: str | None
                             ) -> tuple[Sequence[IndexedCase], str | None]:
        """Rows resolved by a user (`resolvedby` lookup, `resolvedon` date), RESOLVED_PAGE at a time."""
        start = int(cursor or 0)
        rows = self._rows.get(record_type, [])
        out = []
        for row in rows[start:start + RESOLVED_PAGE]:
            by = row.get("resolvedby")
            if isinstance(by, dict) and by.get("type") == "systemuser" and by.get("id"):
                values = {f: self._format(record_type, f, row.get(f)) for f in fields}
                out.append(IndexedCase(record_type, row["id"], case_text(values, fields), str(by["id"]),
                                       parse_when(row.get("resolvedon")), parse_when(row.get("createdon"))))
        end = start + RESOLVED_PAGE
        return out, (str(end) if end < len(rows) else None)

    def _to_record(self, record_type: str, row: dict[str, Any]) -> Record:
        rt = self._types[record_type]
        owner_ref = row.get("ownerid")
        owner = None
        if isinstance(owner_ref, dict) and owner_ref.get("type") in ("systemuser", "team"):
            owner = Owner(owner_ref["type"], owner_ref["id"], self._name_of(owner_ref))
        values = {k: self._format(record_type, k, v) for k, v in row.items() if k != "id"}
        url = f"{self._public_url}/tabs/record?type={quote(record_type)}&id={quote(row['id'])}"
        return Record(type=record_type, id=row["id"], name=str(row.get(rt.primary_name, "")), owner=owner,
                      number=str(row[rt.number]) if rt.number and row.get(rt.number) else None,
                      values=values, url=url)

    def _format(self, record_type: str, attribute: str, value: Any) -> str:
        if value is None:
            return ""
        if isinstance(value, dict):
            return self._name_of(value)
        if isinstance(value, bool):
            return "Yes" if value else "No"
        return str(value)

    def _name_of(self, ref: dict[str, Any]) -> str:
        kind, rid = ref.get("type", ""), str(ref.get("id", ""))
        if kind == "systemuser":
            return self._users[rid].name if rid in self._users else rid
        if kind == "team":
            return self._teams[rid].name if rid in self._teams else rid
        row = self._by_id.get((kind, rid.lower()))
        rt = self._types.get(kind)
        return str(row.get(rt.primary_name, rid)) if row and rt else str(ref.get("name", rid))
