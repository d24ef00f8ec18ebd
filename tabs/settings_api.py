"""JSON for the settings page: GET/PUT /api/settings (ETag / If-Match), GET /api/record-types, GET /api/me."""
from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from domain.model import RecordType
from domain.ports import Conflict
from domain.settings import Settings, to_dict
from domain.settings_rules import SettingsInvalid, parse, sync_change_problem
from tabs import org_profiles_api
from tabs.context import TabsContext
from tabs.http import ApiError, endpoint, json_body
from tabs.payloads import type_infos
from tabs.sso import Principal
from tabs.type_catalog import types_with

log = logging.getLogger(__name__)
SYNC_REASON = "Only a Microsoft Entra global administrator can turn timeline sync on or off."


def quoted(etag: str) -> str:
    return f'"{etag}"'


def if_match_tag(header: str | None) -> str | None:
    """The ETag the client saw; None for `*` (any). A missing header is refused, not taken as `*`: the later
    of two editors must not overwrite a change it has not seen just because its client forgot the header."""
    if header is None or not header.strip():
        raise ApiError(428, "send If-Match with the ETag from GET /api/settings, so that a change made "
                            "meanwhile by someone else is not overwritten", "If-Match")
    first = header.split(",")[0].strip()
    if first == "*":
        return None
    return first.removeprefix("W/").strip('"')


async def record_types(tabs: TabsContext, data: Any = None) -> dict[str, RecordType]:
    """The offered types plus the configured ones and those in `data` (any table an admin added by search)."""
    stored, _ = await tabs.service.load_settings()
    submitted = data.get("record_types") if isinstance(data, dict) else None
    names = [*stored.record_types, *(submitted if isinstance(submitted, dict) else {})]
    return {t.logical_name: t for t in await types_with(tabs.service.records, names)}


def me(who: Principal) -> dict[str, Any]:
    return {**who.public(), "can_edit": who.admin, "can_change_timeline_sync": who.global_admin,
            "timeline_sync_reason": "" if who.global_admin else SYNC_REASON}


@endpoint()
async def get_me(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    return web.json_response(me(who))


@endpoint()
async def get_settings(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    settings, etag = await tabs.service.load_settings()
    return web.json_response(to_dict(settings), headers={"ETag": quoted(etag)})


@endpoint(admin=True)
async def put_settings(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    tag = if_match_tag(request.headers.get("If-Match"))
    new = await checked(tabs, await json_body(request))
    old, _ = await tabs.service.load_settings()
    if problem := sync_change_problem(old, new, who.global_admin):
        raise ApiError(403, str(problem), problem.field)
    if refused := await org_profiles_api.save_problem(tabs.service, old, new):
        raise refused
    try:
        etag = await tabs.service.save_settings(new, tag)
    except Conflict as exc:
        _, current = await tabs.service.load_settings()
        raise ApiError(412, f"{exc}", headers={"ETag": quoted(current)}) from None
    log.info("settings saved by %s (%s)", who.name, who.aad_object_id or "dev")
    return web.json_response(to_dict(new), headers={"ETag": quoted(etag)})


async def checked(tabs: TabsContext, data: Any) -> Settings:
    try:
        return parse(data, await record_types(tabs, data))
    except SettingsInvalid as exc:
        first = exc.problems[0]
        more = f" (and {len(exc.problems) - 1} more problems)" if len(exc.problems) > 1 else ""
        raise ApiError(400, f"{first}{more}", first.field,
                       extra={"problems": [{"field": p.field, "message": p.message} for p in exc.problems]}) from None


@endpoint()
async def get_record_types(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    settings, _ = await tabs.service.load_settings()
    types = await types_with(tabs.service.records, settings.record_types)
    return web.json_response({"record_types": type_infos(types, settings)})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/me", get_me)
    app.router.add_get("/api/settings", get_settings)
    app.router.add_put("/api/settings", put_settings)
    app.router.add_get("/api/record-types", get_record_types)
