"""The tab pages. A Teams tab is loaded without credentials, so each page is a server-rendered shell; its
script gets the Teams SSO token and fetches the page's body as a server-rendered HTML fragment (Jinja,
autoescaped) from an authenticated endpoint. No page or fragment stores anything in the browser."""
from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
from aiohttp import web

from domain.kinds import AuditEvent, RuleKind
from domain.lifecycle import AUDIT_EVENTS as LIFECYCLE_EVENTS
from domain.settings import DEFAULT_DISCONNECT_ROLES, RecordTypeSettings, defaults_for, to_dict
from domain.settings_rules import RULE_KINDS
from tabs import audit_api, grants_api, org_profiles_api, records_api, registrations_api
from tabs.context import TABS, TabsContext
from tabs.http import ApiError, endpoint, query_text
from tabs.payloads import type_info, type_infos
from tabs.settings_api import me
from tabs.sso import Principal, dev_admin_active
from tabs.type_catalog import types_with

HERE = Path(__file__).parent
TEAMS_SDK = "https://res.cdn.office.net/teams-js/2.x/js/MicrosoftTeams.min.js"
# Teams (web, desktop, mobile) and CRM apps that embed the record view may frame these pages.
FRAME_ANCESTORS = ("'self' https://teams.microsoft.com https://*.teams.microsoft.com https://*.office.com "
                   "https://*.microsoft365.com https://*.cloud.microsoft https://*.dynamics.com")
CSP = ("default-src 'self'; script-src 'self' https://res.cdn.office.net; style-src 'self'; img-src 'self' data:; "
       f"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors {FRAME_ANCESTORS}")
KIND_LABELS = {RuleKind.OWNER: "Record owner", RuleKind.TEAM_ADMIN: "Owning team's administrator",
               RuleKind.TEAM_MEMBERS: "Owning team's members who worked on the record",
               RuleKind.CONNECTORS: "People who connected chats",
               RuleKind.ACTIVITY: "Users who logged activity on the record",
               RuleKind.LOOKUP: "User in a lookup (chain)"}
EVENTS = (AuditEvent.CONNECT, AuditEvent.DISCONNECT, AuditEvent.JOIN, *LIFECYCLE_EVENTS)

_env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                          undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
_env.globals.update(KIND_LABELS=KIND_LABELS, RULE_KINDS=RULE_KINDS, EVENTS=EVENTS)


def html(template: str, status: int = 200, **data: Any) -> web.Response:
    return web.Response(text=_env.get_template(template).render(**data), status=status, content_type="text/html",
                        charset="utf-8", headers={"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
                                                  "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"})


def shell(request: web.Request, page: str, title: str, fragment: str, status: int = 200,
           **extra: Any) -> web.Response:
    dev = dev_admin_active(request.app[TABS].config)
    return html("shell.html", status, page=page, title=title, fragment=fragment, dev=dev, sdk=TEAMS_SDK, **extra)


async def admin_page(request: web.Request) -> web.Response:
    return shell(request, "admin", "Teams collaboration and chat", "/tabs/admin/form")


async def record_page(request: web.Request) -> web.Response:
    kind, key, app = (request.query.get(k, "").strip()[:200] for k in ("type", "id", "app"))
    if not kind or not key:
        return shell(request, "record", "Connected chats", "", status=400,
                      problem="This page needs a record: open it as /tabs/record?type=case&id=<record id or number>.")
    query = urlencode({k: v for k, v in (("type", kind), ("id", key), ("app", app)) if v})
    return shell(request, "record", "Connected chats", f"/tabs/record/panel?{query}")


async def audit_page(request: web.Request) -> web.Response:
    return shell(request, "audit", "Chat connection audit", "/tabs/audit/rows")


@endpoint()
async def admin_form(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    settings, etag = await tabs.service.load_settings()
    types = await types_with(tabs.service.records, settings.record_types)
    infos = type_infos(types, settings)
    roles = list(dict.fromkeys((*DEFAULT_DISCONNECT_ROLES, *settings.disconnect_roles)))
    return html("admin_form.html", s=settings, etag=etag, me=me(who), settings_json=to_dict(settings),
                configured=[(i, settings.record_types[i["logical_name"]]) for i in infos if i["configured"]],
                addable=[i for i in infos if not i["configured"]], roles=roles,
                grant=await grants_api.disconnect_grant(tabs.service),
                org=await org_profiles_api.org_profiles(tabs.service),
                registrations=registrations_api.status_of(request.app) if who.admin else None,
                member_names=await _member_names(tabs, settings))


async def _member_names(tabs: TabsContext, settings: Any) -> dict[str, str]:
    """Profile members by name for the people picker; an id the directory no longer knows shows as itself."""
    ids = {i for members in settings.profile_members.values() for i in members}
    users = {i: await tabs.service.records.user(i) for i in ids}
    return {i: (u.name if u else f"{i} (unknown user)") for i, u in users.items()}


@endpoint(admin=True)
async def admin_type(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    """One record type's settings panel with the type's defaults, for "Add record type"."""
    rtype = await tabs.service.records.record_type(query_text(request, "type"))
    if rtype is None:
        raise ApiError(404, "the record source has no such record type", "type")
    settings, _ = await tabs.service.load_settings()
    rts: RecordTypeSettings = settings.record_types.get(rtype.logical_name) or defaults_for(rtype.logical_name)
    return html("type_fragment.html", t=type_info(rtype, settings), rts=rts, me=me(who), open=True)


@endpoint()
async def record_panel(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    data = await records_api.connections(tabs, who, query_text(request, "type"), query_text(request, "id"),
                                         query_text(request, "app") or None)
    return html("record_panel.html", d=data)


@endpoint(admin=True)
async def audit_rows(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    filters, limit = audit_api.filters_of(request, who)
    return html("audit_rows.html", events=await audit_api.events(tabs, filters, limit), limit=limit)


def routes(app: web.Application) -> None:
    app.router.add_get("/tabs/admin", admin_page)
    app.router.add_get("/tabs/record", record_page)
    app.router.add_get("/tabs/audit", audit_page)
    app.router.add_get("/tabs/admin/form", admin_form)
    app.router.add_get("/tabs/admin/type", admin_type)
    app.router.add_get("/tabs/record/panel", record_panel)
    app.router.add_get("/tabs/audit/rows", audit_rows)
    app.router.add_static("/tabs/static", HERE / "static", append_version=False)
