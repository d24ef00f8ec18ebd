"""Dataverse as the record source: live records, views, users, roles and access over the Web API v9.2.

Behaves like records.local.LocalRecordSource through domain.ports.RecordSource; nothing above it knows which
source is in use. Metadata and views are cached (they change rarely); users and privileges briefly.
"""
from __future__ import annotations

import asyncio
import copy
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from domain.kinds import LOOKUP_TYPES
from domain.model import Access, ChangeEvent, Record, RecordType, RoleGrant, Team, TimelineChat, User, View
from domain.profiles import OrgProfile
from domain.settings import OUT_OF_BOX_TYPES
from domain.similar import IndexedCase
from records.dataverse_caller import CallerClient, delegate_problem
from records.dataverse_http import DataverseClient, TokenSource, odata_string
from records.dataverse_meta import (
    ATTRIBUTE_SELECT,
    ENTITY_SELECT,
    OPTION_CASTS,
    PUBLIC_VIEW,
    QUICK_FIND,
    CatalogEntry,
    TtlCache,
    TypeMeta,
    build_type,
    label,
    parse_catalog,
    parse_views,
)
from records.dataverse_people import People
from records.dataverse_profiles import AppProfiles
from records.dataverse_resolutions import left_active, resolved_cases
from records.dataverse_rows import column_of, display, guid, lookup_ref, to_api_value, to_record
from records.dataverse_search import QuickFindSearch
from records.dataverse_timeline import Timeline

METADATA_TTL = 900.0
PEOPLE_TTL = 60.0
PROFILES_TTL = 60.0  # who is in which agent experience profile (DATAVERSE_PROFILES_TTL)
CASE_CARD_VIEW = "Case introduction message"


class DataverseRecordSource:
    # As in Dynamics 365: the privilege in security roles (managed in the Power Platform admin center) grants it.
    role_grant = RoleGrant.CRM

    def __init__(self, org_url: str, token: TokenSource | None, types: Sequence[str] = OUT_OF_BOX_TYPES, *,
                 metadata_ttl: float = METADATA_TTL, people_ttl: float = PEOPLE_TTL,
                 profiles_ttl: float = PROFILES_TTL, **client_options: Any) -> None:
        self.org_url = org_url.rstrip("/")
        self.client = DataverseClient(self.org_url, token, **client_options)
        # Record rows are read and written through this one: the service itself, or the agent in acting_as().
        self._rows: DataverseClient | CallerClient = self.client
        self._agent_id: str | None = None  # the systemuserid of the agent acting_as() reads rows as
        self._known: list[str] = list(dict.fromkeys(t.lower() for t in types))
        self._meta = TtlCache(metadata_ttl)
        self._people = People(self.client, people_ttl)
        self._profiles = AppProfiles(self.client, profiles_ttl)
        self._timeline = Timeline(self.client)
        self._search = QuickFindSearch(self.client, self.org_url, self._meta, self._type_meta)
        self.problems: list[str] = []

    @property
    def configured_types(self) -> tuple[str, ...]:
        """Tables listed by record_types(); record_type() finds any other table the CRM has by name."""
        return tuple(self._known)

    async def close(self) -> None:
        await self.client.close()

    async def startup_check(self) -> list[str]:
        """Problems an administrator must fix (logged at start): today, the impersonation privilege."""
        problem = await delegate_problem(self.client)
        self.problems = [problem] if problem else []
        return self.problems

    def acting_as(self, user: User) -> DataverseRecordSource:
        """Record rows as the agent (CallerObjectId); metadata, people, access and timeline stay the service's."""
        if not user.aad_object_id:
            return self
        view = copy.copy(self)
        view._rows = CallerClient(self.client, user.aad_object_id)
        view._agent_id = user.id
        return view

    # -- record types and views ---------------------------------------------------------------------------

    async def record_types(self) -> Sequence[RecordType]:
        metas = await asyncio.gather(*(self._type_meta(t) for t in self._known))
        return [m.record_type for m in metas if m is not None]

    async def record_type(self, name: str) -> RecordType | None:
        wanted = name.strip().lower()
        if not wanted:
            return None
        # Configured types win, so "case" is the incident even if another table is labelled "Case"; the
        # (large) catalog of all tables is read only for names the configured types do not know.
        for rt in await self.record_types():
            if wanted in rt.names():
                return rt
        catalog = await self._catalog()
        entry = next((e for e in catalog.values() if wanted in e.names()), None)
        meta = await self._type_meta(entry.logical_name) if entry else None
        return meta.record_type if meta else None

    async def search_types(self, text: str, limit: int = 20) -> Sequence[tuple[str, str]]:
        """Any table of the org with a primary name whose display or logical name contains `text`."""
        wanted = text.strip().lower()
        hits = [(e.logical_name, e.display_name) for e in (await self._catalog()).values()
                if e.primary_name and (wanted in e.logical_name.lower() or wanted in e.display_name.lower())]
        return sorted(hits, key=lambda h: (not h[1].lower().startswith(wanted), h[1].lower()))[:limit]

    async def views(self, record_type: str) -> Sequence[View]:
        meta = await self._type_meta(record_type)
        return meta.record_type.views if meta else ()

    # -- records ------------------------------------------------------------------------------------------

    async def get_record(self, record_type: str, key: str) -> Record | None:
        meta = await self._type_meta(record_type)
        key = key.strip()
        if meta is None or not key:
            return None
        params = {"$select": ",".join(meta.select())}
        row = None
        if rid := guid(key):
            row = await self._rows.get(f"{meta.entity_set}({rid})", params)
        number = meta.record_type.number
        if row is None and number:
            if number in meta.key_columns:
                row = await self._rows.get(f"{meta.entity_set}({number}={odata_string(key)})", params)
            else:
                body = await self._rows.get(meta.entity_set, {
                    **params, "$filter": f"{number} eq {odata_string(key)}", "$top": "2"})
                rows = (body or {}).get("value") or []
                row = rows[0] if len(rows) == 1 else None  # an ambiguous number matches nothing
        return to_record(meta, row, self.org_url) if row else None

    async def search(self, types: Sequence[RecordType], text: str, limit: int,
                     owner_id: str | None = None) -> Sequence[Record]:
        return await self._search.search(types, text, limit, owner_id, rows=self._rows, user_id=self._agent_id)

    async def update_record(self, user: User, record: Record, attribute: str, value: str) -> ChangeEvent:
        meta = await self._require(record.type)
        new_value = to_api_value(meta, attribute, value)
        column = column_of(meta, attribute)
        rid = guid(record.id)
        if rid is None:
            raise LookupError(f"{record.id!r} is not a Dataverse record id.")
        path = f"{meta.entity_set}({rid})"
        before = await self._rows.get(path, {"$select": column})
        if before is None:
            raise LookupError(f"{meta.record_type.display_name} {record.id} no longer exists.")
        resp = await self._rows.send("PATCH", path, {"$select": column}, body={attribute: new_value},
                                     headers={"If-Match": "*", "Prefer": 'return=representation,'
                                              'odata.include-annotations="*"'})
        if resp.status == 404:
            raise LookupError(f"{meta.record_type.display_name} {record.id} no longer exists.")
        after = resp.body if isinstance(resp.body, dict) else await self._rows.get(path, {"$select": column})
        new_text = display(after or {}, column) or value
        return ChangeEvent(event_id=f"dataverse:{uuid.uuid4()}", record_type=record.type, record_id=record.id,
                           changed={attribute: (display(before, column), new_text)}, changed_by=user.name,
                           changed_at=datetime.now().astimezone())

    async def resolution(self, record_type: str, record_id: str) -> tuple[str, str] | None:
        """A closed case's newest incidentresolution (written by CloseIncident in the same transaction as the
        state change): its subject and description, for the closing card (issue 15). None for other types."""
        rid = guid(record_id)
        if record_type != "incident" or rid is None:
            return None
        body = await self.client.get("incidentresolutions", {
            "$select": "subject,description", "$filter": f"_incidentid_value eq {rid}",
            "$orderby": "createdon desc", "$top": "1"})
        rows = body.get("value") if isinstance(body, dict) else None
        if not rows or not isinstance(rows[0], dict):
            return None
        return str(rows[0].get("subject") or ""), str(rows[0].get("description") or "")

    async def activity_owners(self, record: Record) -> Sequence[str]:
        """Owners of activitypointer rows regarding the record (emails, calls, tasks, chats...), newest first;
        team-owned activities name no user and are left out."""
        rid = guid(record.id)
        if rid is None:
            return []
        body = await self.client.get("activitypointers", {
            "$select": "activityid,_ownerid_value,modifiedon,actualend,createdon",
            "$filter": f"_regardingobjectid_value eq {rid}", "$top": "200"})
        rows = [r for r in (body or {}).get("value") or [] if r.get("_ownerid_value") and
                r.get("_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname", "systemuser") == "systemuser"]
        rows.sort(key=lambda r: str(r.get("actualend") or r.get("modifiedon") or r.get("createdon") or ""),
                  reverse=True)
        return list(dict.fromkeys(str(r["_ownerid_value"]).lower() for r in rows))

    async def lookup_user(self, record: Record, path: Sequence[str]) -> User | None:
        kind, rid = record.type, record.id
        for step in path:
            meta = await self._type_meta(kind)
            attr = meta.record_type.attributes.get(step) if meta else None
            if meta is None or attr is None or attr.type not in LOOKUP_TYPES or not guid(rid):
                return None
            row = await self.client.get(f"{meta.entity_set}({guid(rid)})", {"$select": f"_{step}_value"})
            ref = lookup_ref(row or {}, step)
            if ref is None:
                return None
            if ref[0] == "systemuser":
                return await self._people.user(ref[1])
            kind, rid = ref
        return None

    # -- people and access --------------------------------------------------------------------------------

    async def user_by_aad(self, aad_object_id: str) -> User | None:
        return await self._people.user_by_aad(aad_object_id)

    async def user(self, user_id: str) -> User | None:
        return await self._people.user(user_id)

    async def users_by_email(self, emails: Sequence[str]) -> Sequence[User]:
        return await self._people.users_by_email(emails)

    async def app_name(self, app_id: str) -> str | None:
        aid = guid(app_id)
        if aid is None:
            return None

        async def load() -> str | None:
            body = await self.client.get("appmodules", {"$select": "appmoduleid,name",
                                                        "$filter": f"appmoduleid eq {aid}"})
            rows = (body or {}).get("value") or []
            return str(rows[0].get("name") or "") or None if rows else None

        name: str | None = await self._meta.get(("app", aid), load)
        return name

    async def search_users(self, text: str, limit: int = 10) -> Sequence[User]:
        return await self._people.search(text, limit)

    async def app_profiles(self) -> Sequence[OrgProfile] | None:
        return await self._profiles.all()

    async def user_app_profiles(self, user_id: str) -> frozenset[str]:
        return await self._profiles.of_user(user_id)

    async def team(self, team_id: str) -> Team | None:
        return await self._people.team(team_id)

    async def access(self, user: User, record: Record) -> Access:
        meta = await self._type_meta(record.type)
        return await self._people.access(user, meta.entity_set, record.id) if meta else "none"

    async def privileges(self, user: User) -> frozenset[str]:
        return await self._people.privileges(user)

    async def roles_with_privilege(self, privilege: str) -> Sequence[str]:
        return await self._people.roles_with_privilege(privilege)

    # -- timeline -----------------------------------------------------------------------------------------

    async def add_timeline_chat(self, record: Record, chat_id: str, linked_by: User, at: datetime) -> None:
        meta = await self._require(record.type)
        await self._timeline.add(record.type, meta.entity_set, record.id, record.name, chat_id, linked_by, at)

    async def unlink_timeline_chat(self, record: Record, chat_id: str, at: datetime) -> None:
        await self._timeline.unlink(record.id, chat_id, at)

    async def touch_timeline_chat(self, record_type: str, record_id: str, chat_id: str,
                                  sender: str, at: datetime) -> None:
        await self._timeline.touch(record_id, chat_id, sender, at)

    async def timeline_chats(self, record: Record) -> Sequence[TimelineChat]:
        return await self._timeline.for_record(record.id)

    # -- metadata loading ---------------------------------------------------------------------------------

    async def resolved_cases(self, record_type: str, fields: Sequence[str], cursor: str | None
                             ) -> tuple[Sequence[IndexedCase], str | None]:
        """A page of resolved records for the similar-cases backfill (records/dataverse_resolutions.py): cases by
        their resolution activity, any other type by having left the Active state."""
        meta = await self._require(record_type)
        page = resolved_cases if meta.record_type.logical_name == "incident" else left_active
        return await page(self.client, meta, self.org_url, fields, cursor)

    async def _require(self, record_type: str) -> TypeMeta:
        meta = await self._type_meta(record_type)
        if meta is None:
            raise LookupError(f"Dataverse has no table {record_type!r}.")
        return meta

    async def _catalog(self) -> dict[str, CatalogEntry]:
        async def load() -> dict[str, CatalogEntry]:
            body = await self.client.get("EntityDefinitions", {
                "$select": "LogicalName,EntitySetName,DisplayName,DisplayCollectionName,PrimaryNameAttribute"})
            return parse_catalog((body or {}).get("value") or [])

        catalog: dict[str, CatalogEntry] = await self._meta.get("catalog", load)
        return catalog

    async def _type_meta(self, record_type: str) -> TypeMeta | None:
        logical = record_type.strip().lower()
        if not logical or "'" in logical:
            return None

        async def load() -> TypeMeta | None:
            base = f"EntityDefinitions(LogicalName='{logical}')"
            entity = await self.client.get(base, {
                "$select": ENTITY_SELECT,
                "$expand": f"Attributes($select={ATTRIBUTE_SELECT}),Keys($select=KeyAttributes)"})
            if entity is None:
                return None
            lookups, *choices = await asyncio.gather(
                self.client.get(f"{base}/Attributes/Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                                {"$select": "LogicalName,Targets"}),
                *(self.client.get(f"{base}/Attributes/Microsoft.Dynamics.CRM.{cast}", {
                    "$select": "LogicalName", "$expand": "OptionSet($select=Options)"}) for cast in OPTION_CASTS))
            name = label(entity.get("DisplayName")) or logical
            entry = CatalogEntry(logical, str(entity.get("EntitySetName") or ""), name,
                                 label(entity.get("DisplayCollectionName")) or name)
            meta = build_type(entity, entry, (lookups or {}).get("value") or [],
                              [r for c in choices for r in (c or {}).get("value") or []],
                              await self._views(logical))
            # Update events exist where the table has an Update message filter that allows custom steps
            # (sdkmessagefilter), which is what a webhook step needs; IsCustomizable says something else.
            if meta.record_type.update_events and not await self._has_update_filter(logical):
                meta = replace(meta, record_type=replace(meta.record_type, update_events=False))
            return meta

        meta: TypeMeta | None = await self._meta.get(("type", logical), load)
        return meta

    async def _has_update_filter(self, logical: str) -> bool:
        async def update_message() -> str | None:
            body = await self.client.get("sdkmessages", {"$select": "sdkmessageid", "$filter": "name eq 'Update'"})
            rows = (body or {}).get("value") or []
            return str(rows[0]["sdkmessageid"]) if rows else None

        message: str | None = await self._meta.get("update-message", update_message)
        if message is None:
            return False
        body = await self.client.get("sdkmessagefilters", {
            "$select": "sdkmessagefilterid,iscustomprocessingstepallowed",
            "$filter": f"primaryobjecttypecode eq {odata_string(logical)} and _sdkmessageid_value eq {message}"})
        return any(r.get("iscustomprocessingstepallowed") is not False for r in (body or {}).get("value") or [])

    async def _views(self, logical: str) -> tuple[View, ...]:
        body = await self.client.get("savedqueries", {
            "$select": "savedqueryid,name,layoutxml,querytype",
            # The out-of-box card view is asked for by name too, whatever query type the org gave it (CARD-06).
            "$filter": f"returnedtypecode eq {odata_string(logical)} and statecode eq 0 and "
                       f"(querytype eq {PUBLIC_VIEW} or querytype eq {QUICK_FIND} or "
                       f"name eq {odata_string(CASE_CARD_VIEW)})",
            "$orderby": "name"})
        return parse_views((body or {}).get("value") or [])

