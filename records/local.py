"""The embedded CRM: a JSON directory file, indexed once at start, changed in memory by `set`."""
from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from domain.model import ACCESS_ORDER, Access, ChangeEvent, Owner, Record, RecordType, Team, User, View
from records import directory_file as df

DEMO_PATH = Path(__file__).with_name("demo-directory.json")


class LocalRecordSource:
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
        self._by_id = {(t, r["id"].lower()): r for t, rows in self._rows.items() for r in rows}
        self._by_number = {(t, str(r[num]).lower()): r for t, rows in self._rows.items()
                           if (num := self._types[t].number) for r in rows if r.get(num)}
        self._names = {n: t for t in self._types.values() for n in t.names()}
        self._public_url = public_url.rstrip("/")
        self.timeline: list[dict[str, Any]] = []

    async def record_types(self) -> Sequence[RecordType]:
        return list(self._types.values())

    async def record_type(self, name: str) -> RecordType | None:
        return self._names.get(name.strip().lower())

    async def views(self, record_type: str) -> Sequence[View]:
        rt = self._types.get(record_type)
        return rt.views if rt else ()

    async def get_record(self, record_type: str, key: str) -> Record | None:
        k = (record_type, key.strip().lower())
        row = self._by_id.get(k) or self._by_number.get(k)
        return self._to_record(record_type, row) if row else None

    async def user_by_aad(self, aad_object_id: str) -> User | None:
        return self._by_aad.get(aad_object_id.lower())

    async def user(self, user_id: str) -> User | None:
        return self._users.get(user_id)

    async def users_by_email(self, emails: Sequence[str]) -> Sequence[User]:
        return [u for e in emails if (u := self._by_email.get(e.lower()))]

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
        self.timeline.append({"recordType": record.type, "recordId": record.id, "chatId": chat_id,
                              "linkedBy": linked_by.name, "linkedOn": at.isoformat(), "state": "linked"})

    async def unlink_timeline_chat(self, record: Record, chat_id: str, at: datetime) -> None:
        for item in self._timeline_items(record.type, record.id, chat_id):
            item.update(state="unlinked", unlinkedOn=at.isoformat())

    async def touch_timeline_chat(self, record_type: str, record_id: str, chat_id: str,
                                  sender: str, at: datetime) -> None:
        for item in self._timeline_items(record_type, record_id, chat_id):
            item.update(lastSender=sender, lastMessageOn=at.isoformat())

    def _timeline_items(self, record_type: str, record_id: str, chat_id: str) -> list[dict[str, Any]]:
        return [i for i in self.timeline if (i["recordType"], i["recordId"], i["chatId"], i["state"]) ==
                (record_type, record_id, chat_id, "linked")]

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
