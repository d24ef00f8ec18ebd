"""Record types the settings page works with: those the source offers plus any configured or submitted table
(with Dataverse an admin may add any table found by GET /api/record-types/search, not only DATAVERSE_RECORD_TYPES)."""
from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web

from domain.model import RecordType
from domain.ports import RecordSource
from tabs.context import TabsContext
from tabs.http import ApiError, endpoint, query_text
from tabs.sso import Principal

MIN_QUERY = 2


async def types_with(records: RecordSource, names: Iterable[str]) -> list[RecordType]:
    types = {t.logical_name: t for t in await records.record_types()}
    for name in names:
        if isinstance(name, str) and name not in types:
            rtype = await records.record_type(name)
            if rtype is not None and rtype.logical_name == name:
                types[name] = rtype
    return list(types.values())


@endpoint(admin=True)
async def search(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    text = query_text(request, "q")
    if len(text.strip()) < MIN_QUERY:
        raise ApiError(400, f"type at least {MIN_QUERY} letters of the table's display or logical name", "q")
    hits = await tabs.service.records.search_types(text)
    return web.json_response({"tables": [{"logical_name": n, "display_name": d} for n, d in hits]})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/record-types/search", search)
