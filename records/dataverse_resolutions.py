"""Resolved records from Dataverse for the similar-cases backfill (`python -m store.reindex`).

Cases: pages through incidentresolutions (statecode 1, Completed: the activity Dataverse creates when a case is
resolved; its createdby is who resolved it, actualend when) with server-driven paging (Prefer odata.maxpagesize,
then each @odata.nextLink as given), and reads the cases of each page in a few $filter requests. The cursor handed
back is the next page's link relative to the Web API root, so a stopped backfill resumes at the page it had not
finished.

Any other type has no resolution activity: a record that left the Active state (statecode ne 0) is resolved, by
its modifiedby at its modifiedon (the last change of an inactive record, normally the one that closed it), as the
webhook intake (webhooks/similar_intake.py) records it live. Its table is paged the same way, one request a page."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.similar import IndexedCase, case_text, parse_when
from records.dataverse_http import ANNOTATIONS, DataverseClient, relative_link
from records.dataverse_meta import TypeMeta
from records.dataverse_rows import column_of, guid, to_record

PAGE = 500  # resolutions per page
CASES_PER_REQUEST = 50  # `incidentid eq ... or ...` terms per case read (keeps the URL well under 32 KB)
FIRST = ("incidentresolutions?$select=activityid,actualend,_incidentid_value,_createdby_value"
         "&$filter=statecode eq 1")


async def resolved_cases(client: DataverseClient, meta: TypeMeta, org_url: str, fields: Sequence[str],
                         cursor: str | None) -> tuple[list[IndexedCase], str | None]:
    resp = await client.send("GET", cursor or FIRST, headers={"Prefer": f"{ANNOTATIONS},odata.maxpagesize={PAGE}"})
    body: dict[str, Any] = resp.body if isinstance(resp.body, dict) else {}
    page = [r for r in body.get("value") or [] if guid(str(r.get("_incidentid_value") or ""))]
    cases = await _cases(client, meta, org_url, [str(r["_incidentid_value"]).lower() for r in page])
    out = []
    for row in page:
        record = cases.get(str(row["_incidentid_value"]).lower())
        by = str(row.get("_createdby_value") or "").lower()
        if record is not None and by:
            out.append(IndexedCase("incident", record.id, case_text(record.values, fields), by,
                                   parse_when(row.get("actualend")), parse_when(record.values.get("createdon"))))
    return out, relative_link(body.get("@odata.nextLink"))


async def _cases(client: DataverseClient, meta: TypeMeta, org_url: str, ids: list[str]) -> dict[str, Any]:
    found = {}
    distinct = list(dict.fromkeys(ids))
    for start in range(0, len(distinct), CASES_PER_REQUEST):
        part = distinct[start:start + CASES_PER_REQUEST]
        rows = await client.get(meta.entity_set, {
            "$select": ",".join(meta.select()),
            "$filter": " or ".join(f"{meta.primary_id} eq {i}" for i in part)})
        for row in (rows or {}).get("value") or []:
            record = to_record(meta, row, org_url)
            found[record.id] = record
    return found


async def left_active(client: DataverseClient, meta: TypeMeta, org_url: str, fields: Sequence[str],
                      cursor: str | None) -> tuple[list[IndexedCase], str | None]:
    """A page of records of a type without a resolution activity that are no longer Active."""
    rt = meta.record_type
    if "statecode" not in rt.attributes:
        return [], None  # a table without states has nothing resolved
    columns = [meta.primary_id, *(column_of(meta, f) for f in fields if f in rt.attributes),
               "_modifiedby_value", "modifiedon", "createdon"]
    first = f"{meta.entity_set}?$select={','.join(dict.fromkeys(columns))}&$filter=statecode ne 0"
    resp = await client.send("GET", cursor or first, headers={"Prefer": f"{ANNOTATIONS},odata.maxpagesize={PAGE}"})
    body: dict[str, Any] = resp.body if isinstance(resp.body, dict) else {}
    out = []
    for row in body.get("value") or []:
        record = to_record(meta, row, org_url)
        by = str(row.get("_modifiedby_value") or "").lower()
        if record.id and by:  # raw dates, not the formatted ones: exact and in UTC
            out.append(IndexedCase(rt.logical_name, record.id, case_text(record.values, fields), by,
                                   parse_when(row.get("modifiedon")), parse_when(row.get("createdon"))))
    return out, relative_link(body.get("@odata.nextLink"))
