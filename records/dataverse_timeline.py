"""Timeline sync (preview): a Teams chat activity (table `chat`) on the record, never any message text.

linkedby/linkedon/unlinkedon are documented as platform-managed ("for internal use"); we send them, and also
write the same facts into the activity's description so every timeline shows who connected the chat, when,
and who sent the last message.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from domain.model import TimelineChat, User
from records.dataverse_http import DataverseClient, DataverseError, odata_string
from records.dataverse_rows import guid

OPEN, COMPLETED = 0, 1
STATUS_COMPLETED = 2
SYNC_ENABLED = 2


def _stamp(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


class Timeline:
    def __init__(self, client: DataverseClient) -> None:
        self._client = client

    async def add(self, record_type: str, entity_set: str, record_id: str, record_name: str, chat_id: str,
                  linked_by: User, at: datetime) -> None:
        rid = guid(record_id)
        if rid is None:
            return
        body: dict[str, Any] = {
            "subject": f"Teams chat: {record_name}"[:250] if record_name else "Teams chat",
            "teamschatid": chat_id,
            f"regardingobjectid_{record_type}_chat@odata.bind": f"/{entity_set}({rid})",
            "syncstatus": SYNC_ENABLED,
            "description": f"Connected by {linked_by.name} on {_stamp(at)}.",
        }
        managed: dict[str, Any] = {"linkedon": _stamp(at)}
        if guid(linked_by.id):
            managed["linkedby@odata.bind"] = f"/systemusers({guid(linked_by.id)})"
        try:
            await self._client.send("POST", "chats", body={**body, **managed})
        except DataverseError as exc:
            if exc.status != 400:
                raise
            # An org that keeps linkedby/linkedon to itself refuses them; the description still says it all.
            await self._client.send("POST", "chats", body=body)

    async def unlink(self, record_id: str, chat_id: str, at: datetime) -> None:
        for row in await self._linked(record_id, chat_id):
            await self._patch(row, {"unlinkedon": _stamp(at), "statecode": COMPLETED,
                                    "statuscode": STATUS_COMPLETED})

    async def touch(self, record_id: str, chat_id: str, sender: str, at: datetime) -> None:
        for row in await self._linked(record_id, chat_id):
            first = str(row.get("description") or "").split("\n", 1)[0]
            await self._patch(row, {"modifiedinteamson": _stamp(at),
                                    "description": f"{first}\nLast message from {sender} on {_stamp(at)}."})

    async def _linked(self, record_id: str, chat_id: str) -> list[dict[str, Any]]:
        """Open chat activities for this record and chat; chats connected before sync was on have none."""
        rid = guid(record_id)
        if rid is None:
            return []
        body = await self._client.get("chats", {
            "$select": "activityid,description",
            "$filter": f"teamschatid eq {odata_string(chat_id)} and _regardingobjectid_value eq {rid} "
                       f"and statecode eq {OPEN}"})
        return list((body or {}).get("value") or [])

    async def _patch(self, row: dict[str, Any], changes: dict[str, Any]) -> None:
        await self._client.send("PATCH", f"chats({row['activityid']})", body=changes, headers={"If-Match": "*"})

    async def for_record(self, record_id: str) -> list[TimelineChat]:
        """The record's chat activities, newest link first; who and when come from the columns, or from the
        description where an org keeps the platform-managed columns to itself."""
        rid = guid(record_id)
        if rid is None:
            return []
        body = await self._client.get("chats", {
            "$select": "activityid,teamschatid,description,linkedon,unlinkedon,modifiedinteamson,statecode",
            "$filter": f"_regardingobjectid_value eq {rid}"})
        items = [_item(row) for row in (body or {}).get("value") or [] if row.get("teamschatid")]
        return sorted(items, key=lambda i: i.linked_on, reverse=True)


_CONNECTED = re.compile(r"^Connected by (?P<who>.+) on (?P<at>\S+)\.$")
_LAST = re.compile(r"^Last message from (?P<who>.+) on (?P<at>\S+)\.$")


def _item(row: dict[str, Any]) -> TimelineChat:
    lines = str(row.get("description") or "").splitlines()
    connected = _CONNECTED.match(lines[0]) if lines else None
    last = _LAST.match(lines[-1]) if len(lines) > 1 else None

    def at(value: Any) -> datetime | None:
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
        except ValueError:
            return None

    linked_on = at(row.get("linkedon")) or at(connected["at"] if connected else None) or datetime.min
    return TimelineChat(chat_id=str(row["teamschatid"]), linked_by=connected["who"] if connected else "",
                        linked_on=linked_on, linked=row.get("statecode") == OPEN, unlinked_on=at(row.get("unlinkedon")),
                        last_sender=last["who"] if last else "",
                        last_message_on=at(row.get("modifiedinteamson")) or at(last["at"] if last else None))
