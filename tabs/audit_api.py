"""Audit of connect, disconnect and join events: GET /api/audit (JSON) and /api/audit.csv, for administrators."""
from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from store.connections import iso
from tabs.context import TabsContext
from tabs.http import ApiError, endpoint, query_text
from tabs.sso import Principal

TEXT_FILTERS = ("event", "user_id", "record_type", "record_id", "chat_id")
COLUMNS = ("at", "event", "user_id", "user_name", "record_type", "record_type_label", "record_id", "record_name",
           "chat_id", "chat_name", "detail")
MAX_ROWS = 5000


def _when(request: web.Request, name: str) -> str:
    text = query_text(request, name, 40)
    if not text:
        return ""
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name} must be an ISO date or time, like 2026-11-29 or 2026-11-29T08:00:00Z",
                       name) from None
    # Stored times are UTC ISO strings, so the filter must be one too for the comparison to hold.
    return iso(at.replace(tzinfo=at.tzinfo or UTC).astimezone(UTC))


def filters_of(request: web.Request, who: Principal) -> tuple[dict[str, str], int]:
    filters = {name: query_text(request, name) for name in TEXT_FILTERS}
    filters["since"], filters["until"] = _when(request, "since"), _when(request, "until")
    if not who.dev:
        filters["tenant_id"] = who.tenant_id  # an organization sees its own events only
    limit_text = query_text(request, "limit", 10) or "500"
    if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_ROWS:
        raise ApiError(400, f"limit must be a number from 1 to {MAX_ROWS}", "limit")
    return {k: v for k, v in filters.items() if v}, int(limit_text)


async def events(tabs: TabsContext, filters: dict[str, str], limit: int) -> list[dict[str, Any]]:
    """Audit rows with the names of their users, record types and records (looked up once each)."""
    records = tabs.service.records
    users: dict[str, str] = {}
    labels: dict[str, str | None] = {}
    names: dict[tuple[str, str], str] = {}
    out = []
    rows = await tabs.service.audit_events(filters, limit)
    chats = await _chat_names(tabs, rows)
    for row in rows:
        uid, rtype, rid = row["user_id"], row["record_type"], row["record_id"]
        if uid not in users:
            user = await records.user(uid)
            users[uid] = user.name if user else ""
        if rtype not in labels:
            found = await records.record_type(rtype)
            labels[rtype] = found.display_name if found else None
        if (rtype, rid) not in names:
            record = await records.get_record(rtype, rid) if labels[rtype] else None
            names[(rtype, rid)] = record.name if record else ""
        out.append({"at": row["at"], "event": row["event"], "user_id": uid, "user_name": users[uid],
                    "record_type": rtype, "record_type_label": labels[rtype] or rtype, "record_id": rid,
                    "record_name": names[(rtype, rid)], "chat_id": row["chat_id"],
                    "chat_name": chats.get((row["tenant_id"], row["chat_id"]), ""), "detail": row["detail"]})
    return out


async def _chat_names(tabs: TabsContext, rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], str]:
    """The chats' names as Teams shows them, one query per tenant in the page."""
    directory = tabs.service.chat_directory
    names: dict[tuple[str, str], str] = {}
    if directory is None:
        return names
    by_tenant: dict[str, list[str]] = {}
    for row in rows:
        by_tenant.setdefault(row["tenant_id"], []).append(row["chat_id"])
    for tenant, chat_ids in by_tenant.items():
        names.update({(tenant, chat): name for chat, name in (await directory.names(tenant, chat_ids)).items()})
    return names


@endpoint(admin=True)
async def get_audit(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    filters, limit = filters_of(request, who)
    return web.json_response({"events": await events(tabs, filters, limit)})


def _cell(value: Any) -> str:
    text = str(value)
    # A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection); quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


@endpoint(admin=True)
async def get_audit_csv(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    filters, limit = filters_of(request, who)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    for event in await events(tabs, filters, limit):
        writer.writerow([_cell(event[c]) for c in COLUMNS])
    return web.Response(text=out.getvalue(), content_type="text/csv", charset="utf-8",
                        headers={"Content-Disposition": 'attachment; filename="connected-chats-audit.csv"'})


def routes(app: web.Application) -> None:
    app.router.add_get("/api/audit", get_audit)
    app.router.add_get("/api/audit.csv", get_audit_csv)
