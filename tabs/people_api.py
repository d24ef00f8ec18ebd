"""GET /api/people/search?q=: the settings page's people picker (agent experience profiles pick people by name,
not typed ids). Administrators only; names and emails come from the record source's directory."""
from __future__ import annotations

from aiohttp import web

from tabs.context import TabsContext
from tabs.http import ApiError, endpoint, query_text
from tabs.sso import Principal

MIN_QUERY = 2


@endpoint(admin=True)
async def search(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    text = query_text(request, "q", max_len=100)
    if len(text) < MIN_QUERY:
        raise ApiError(400, f"type at least {MIN_QUERY} letters of the person's name or email", "q")
    people = await tabs.service.records.search_users(text)
    return web.json_response({"people": [{"id": u.id, "name": u.name, "email": u.email} for u in people]})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/people/search", search)
