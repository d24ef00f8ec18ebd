"""Search in Dataverse as its Quick Find does: the columns are the table's Quick Find view's find columns (the
conditions of its `isquickfindfields` filter in fetchxml, read once and cached); each search is one Web API
request per record type with $select, $filter and $top, made as the agent (CallerObjectId) when the source acts as
them, so Dataverse returns only rows they may read. Text is passed as an OData string literal (quotes
doubled) with LIKE wildcards escaped, and aiohttp URL-encodes it, so no input can change the query."""
from __future__ import annotations

import asyncio
import logging
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from domain.model import Record, RecordType
from records.dataverse_caller import CallerClient
from records.dataverse_http import DataverseClient, odata_string
from records.dataverse_meta import QUICK_FIND, TtlCache, TypeMeta
from records.dataverse_rows import guid, to_record
from records.local_search import rank

log = logging.getLogger(__name__)
TEXT_TYPES = frozenset({"String", "Memo"})
NEWEST = "modifiedon"


def like_literal(text: str) -> str:
    """Dataverse runs contains() as SQL LIKE: %, _ and [ match literally only inside brackets."""
    return odata_string("".join(f"[{c}]" if c in "%_[" else c for c in text))


def find_columns(fetchxml: str, meta: TypeMeta) -> list[str]:
    """Text columns of the Quick Find view's find-column conditions (lookups and others cannot be contains()ed)."""
    try:
        root = ET.fromstring(fetchxml)
    except ET.ParseError:
        return []
    columns: list[str] = []
    for group in root.iter("filter"):
        if group.get("isquickfindfields") in ("1", "true"):
            columns += [c.get("attribute", "") for c in group.iter("condition")]
    attrs = meta.record_type.attributes
    return list(dict.fromkeys(c for c in columns if c in attrs and attrs[c].type in TEXT_TYPES))


class QuickFindSearch:
    def __init__(self, client: DataverseClient, org_url: str, cache: TtlCache,
                 type_meta: Callable[[str], Awaitable[TypeMeta | None]]) -> None:
        self._client = client
        self._org_url = org_url
        self._cache = cache
        self._type_meta = type_meta

    async def search(self, types: Sequence[RecordType], text: str, limit: int, owner_id: str | None = None,
                     rows: DataverseClient | CallerClient | None = None) -> Sequence[Record]:
        """`rows`: the client record rows are read with (the agent's, with CallerObjectId, when acting as them)."""
        reader = rows or self._client
        per_type = await asyncio.gather(*(self._one(reader, t.logical_name, text, limit, owner_id) for t in types))
        found = [r for records in per_type for r in records]
        if text:  # the same order the local directory gives: number, then prefixes, then anywhere
            wanted = text.casefold()
            found.sort(key=lambda r: (rank(wanted, r.number or "", r.name), r.name.casefold()))
        return found[:limit]

    async def _one(self, reader: DataverseClient | CallerClient, logical: str, text: str, limit: int,
                   owner_id: str | None) -> list[Record]:
        meta = await self._type_meta(logical)
        if meta is None:
            return []
        if text:
            columns = await self.columns(meta)
            query = " or ".join(f"contains({c},{like_literal(text)})" for c in columns)
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

    async def columns(self, meta: TypeMeta) -> list[str]:
        logical = meta.record_type.logical_name

        async def load() -> list[str]:
            body = await self._client.get("savedqueries", {
                "$select": "savedqueryid,fetchxml",
                "$filter": f"returnedtypecode eq {odata_string(logical)} and querytype eq {QUICK_FIND} "
                           "and statecode eq 0", "$top": "1"})
            rows = (body or {}).get("value") or []
            found = find_columns(str(rows[0].get("fetchxml") or ""), meta) if rows else []
            if not found:
                log.info("%s: no Quick Find find columns; searching its name and number", logical)
            return found or [c for c in (meta.record_type.primary_name, meta.record_type.number) if c]

        columns: list[str] = await self._cache.get(("quickfind", logical), load)
        return columns
