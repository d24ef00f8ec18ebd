"""The Dataverse registration status (issue 14): GET /api/dataverse/registrations shows whether the webhook steps
match the settings ("in_sync"), what differs ("drift") and the last error; POST .../sync asks for a new run."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.registrations import RegistrationStatus
from tabs.context import TabsContext
from tabs.http import endpoint
from tabs.sso import Principal

REGISTRATIONS = web.AppKey("registrations", RegistrationStatus)
NOT_APPLICABLE = {"state": "not_applicable", "drift": [], "last_error": "",
                  "message": "The record source is not Dataverse: nothing to register."}


def status_of(app: web.Application) -> dict[str, Any]:
    sync = app.get(REGISTRATIONS)
    return sync.status() if sync is not None else dict(NOT_APPLICABLE)


@endpoint(admin=True)
async def get_status(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    return web.json_response(status_of(request.app))


@endpoint(admin=True)
async def post_sync(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    sync = request.app.get(REGISTRATIONS)
    if sync is not None:
        sync.request()
    return web.json_response(status_of(request.app), status=202)


def routes(app: web.Application) -> None:
    app.router.add_get("/api/dataverse/registrations", get_status)
    app.router.add_post("/api/dataverse/registrations/sync", post_sync)
