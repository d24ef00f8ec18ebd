"""Search in Dataverse as its Quick Find does: the table's Quick Find view's find columns (the conditions of its
`isquickfindfields` filter) searched with contains(), ANDed with the view's other conditions (e.g. active records
only), both read from its fetchxml once and cached (records.dataverse_view_filter). Each search is one Web API
request per record type with $select, $filter and $top, made as the agent (CallerObjectId) when the source acts as
them, so Dataverse returns only rows they may read. Text is passed as an OData string literal (quotes
doubled) with LIKE wildcards escaped, and aiohttp URL-encodes it, so no input can change the query."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from domain.model import Record, RecordType
from records.dataverse_caller import CallerClient
from records.dataverse_http import DataverseClient, odata_string
from records.dataverse_meta import QUICK_FIND, TtlCache, TypeMeta
from records.dataverse_rows import guid, to_record
from records.dataverse_view_filter import ViewFilter, like_literal, translate
from records.local_search import rank

log = logging.getLogger(__name__)
NEWEST = "modifiedon"


class QuickFindSearch:
    def __init__(self, client: DataverseClient, org_url: str, cache: TtlCache,
                 type_meta: Callable[[str], Awaitable[TypeMeta | None]],
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._client = client
        self._org_url = org_url
        self._cache = cache
        self._type_meta = type_meta
        self._clock = clock
        self._told: set[tuple[str, ...]] = set()  # what was logged about a view, so it is said once

    async def search(self, types: Sequence[RecordType], text: str, limit: int, owner_id: str | None = None,
                     rows: DataverseClient | CallerClient | None = None, user_id: str | None = None
                     ) -> Sequence[Record]:
        """`rows`: the client record rows are read with (the agent's, with CallerObjectId, when acting as them);
        `user_id`: that agent's systemuserid, for a view's "current user" (eq-userid) conditions."""
        reader = rows or self._client
        per_type = await asyncio.gather(*(self._one(reader, t.logical_name, text, limit, owner_id, user_id)
                                          for t in types))
        found = [r for records in per_type for r in records]
        if text:  # the same order the local directory gives: number, then prefixes, then anywhere
            wanted = text.casefold()
            found.sort(key=lambda r: (rank(wanted, r.number or "", r.name), r.name.casefold()))
        return found[:limit]

    async def _one(self, reader: DataverseClient | CallerClient, logical: str, text: str, limit: int,
                   owner_id: str | None, user_id: str | None) -> list[Record]:
        meta = await self._type_meta(logical)
        if meta is None:
            return []
        if text:
            query = await self._text_filter(meta, text, user_id)
        else:
            owner = guid(owner_id or "")
            query = f"_ownerid_value eq {owner}" if owner and "ownerid" in meta.record_type.attributes else ""
        if not query:
            return []
        params = {"$select": ",".join(meta.select()), "$filter": query, "$top": str(limit)}
        if NEWEST in meta.record_type.attributes:
            params["$orderby"] = f"{NEWEST} desc"
        body = await reader.get(meta.entity_set, params)
        rows: list[dict[str, Any]] = (body or {}).get("value") or []
        return [to_record(meta, row, self._org_url) for row in rows if isinstance(row, dict)]

    async def _text_filter(self, meta: TypeMeta, text: str, user_id: str | None) -> str:
        """(find column contains text, or ...) and the view's other conditions."""
        view = await self.view_filter(meta)
        columns = view.find_columns or tuple(c for c in (meta.record_type.primary_name, meta.record_type.number) if c)
        found = " or ".join(f"contains({c},{like_literal(text)})" for c in columns)
        if not found:
            return ""
        if view.uses_current_user and guid(user_id or "") is None:
            self._once((meta.record_type.logical_name, "current user"),
                       "%s: the Quick Find view's current-user (eq-userid) conditions are left out: the search "
                       "is not made as an agent", meta.record_type.logical_name)
        conditions = view.render(user_id, self._clock())
        if not conditions:
            return found
        return f"({found}) and {conditions}" if len(columns) > 1 else f"{found} and {conditions}"

    async def view_filter(self, meta: TypeMeta) -> ViewFilter:
        """The Quick Find view's find columns and other conditions, translated once per cache period."""
        logical = meta.record_type.logical_name

        async def load() -> ViewFilter:
            body = await self._client.get("savedqueries", {
                "$select": "savedqueryid,name,fetchxml",
                "$filter": f"returnedtypecode eq {odata_string(logical)} and querytype eq {QUICK_FIND} "
                           "and statecode eq 0", "$top": "1"})
            rows = (body or {}).get("value") or []
            view = translate(str(rows[0].get("fetchxml") or ""), meta.record_type.attributes) if rows \
                else ViewFilter()
            name = str(rows[0].get("name") or "") if rows else ""
            if not view.find_columns:
                log.info("%s: no Quick Find find columns; searching its name and number", logical)
            if view.skipped:
                self._once((logical, name, *view.skipped),
                           "%s: conditions of Quick Find view %r left out of search (results are broader): %s",
                           logical, name, "; ".join(view.skipped))
            return view

        view: ViewFilter = await self._cache.get(("quickfind", logical), load)
        return view

    def _once(self, key: tuple[str, ...], message: str, *args: Any) -> None:
        """Log at INFO the first time only: the cache reloads views every period, the problem stays the same."""
        if key not in self._told:
            self._told.add(key)
            log.info(message, *args)
