"""POST /api/dataverse/webhook: Dataverse tells us a record changed; the watched changes are recorded in the outbox
for every connected chat, and only then answered 200 (the posting happens after, from webhooks/worker.py).

Authentication is Dataverse's own: WebhookKey (`?code=<key>`) or an HttpHeader registration (the header named by
DATAVERSE_WEBHOOK_HEADER) carrying DATAVERSE_WEBHOOK_KEY, compared in constant time. Without a configured key
every call is refused. GET /api/outbox/status shows the outbox by state, for operators."""
from __future__ import annotations

import hmac
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bots import set_command
from bots.connector import ConnectorClient
from bots.router import Router
from config import Config
from domain import lifecycle as lifecycle_rules
from domain.lifecycle_service import LifecycleService
from domain.model import ChangeEvent, RecordType
from domain.notifications import UNKNOWN
from domain.ports import GatewayError
from domain.service import ChatService
from domain.settings import RecordTypeSettings
from store.connections import SqlConnectionStore
from store.db import Database
from store.outbox import SqlOutbox
from webhooks import lifecycle as life
from webhooks.notifier import Notifier, Outcome
from webhooks.remote_context import BadPayload, Operation, Ref, Value, parse
from webhooks.worker import DeliveryWorker

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/api/dataverse/webhook"
SIZE_EXCEEDED = "x-ms-dynamics-msg-size-exceeded"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")


@dataclass
class Notifications:
    config: Config
    notifier: Notifier
    worker: DeliveryWorker
    outbox: SqlOutbox


NOTIFY = web.AppKey("notifications", Notifications)
_unkeyed_warned = [0.0]


def authorized(request: web.Request, config: Config) -> bool:
    key = config.webhook_key.encode()
    if not key:
        if time.monotonic() - _unkeyed_warned[0] > 60:
            _unkeyed_warned[0] = time.monotonic()
            log.warning("Dataverse webhook refused: DATAVERSE_WEBHOOK_KEY is not set, so every call is refused")
        return False
    given = [request.query.get("code", "")]
    if config.webhook_header:
        given.append(request.headers.get(config.webhook_header, ""))
    # Check every candidate (no early exit) so timing says nothing about which one was tried.
    return sum(hmac.compare_digest(g.encode(), key) for g in given if g) > 0


async def webhook(request: web.Request) -> web.Response:
    ctx = request.app[NOTIFY]
    if not authorized(request, ctx.config):
        return web.json_response({"error": "missing or wrong webhook key"}, status=401)
    raw = await request.read()
    try:
        op = parse(json.loads(raw.decode("utf-8-sig")), raw, truncated=SIZE_EXCEEDED in request.headers)
    except (ValueError, RecursionError) as exc:  # BadPayload, JSON and encoding errors are ValueErrors
        message = (str(exc) if isinstance(exc, BadPayload) else f"the body is not JSON: {exc}"
                   if isinstance(exc, ValueError) else "the body is nested too deeply")
        return web.json_response({"error": message}, status=400)
    if op.message != "Update":
        return web.json_response({"status": "ignored", "reason": f"{op.message} messages don't notify"})
    try:
        outcome = await ingest(ctx.notifier, op, _record_url(request, op))
    except GatewayError as exc:  # the record source is down: 503 makes Dataverse retry once
        log.warning("webhook for %s %s not accepted: %s", op.entity, op.record_id, exc)
        return web.json_response({"error": f"the record source is unavailable: {exc}"}, status=503)
    except Exception:  # the database is down: nothing was recorded, and 503 makes Dataverse retry
        log.exception("webhook for %s %s not accepted", op.entity, op.record_id)
        return web.json_response({"error": "the change could not be recorded; try again"}, status=503)
    return web.json_response({"status": outcome.status, "reason": outcome.reason, "chats": outcome.chats})


async def ingest(notifier: Notifier, op: Operation, fallback_url: str = "") -> Outcome:
    """The operation's watched changes, named and formatted, submitted as one change event."""
    found = await notifier.rules_for(op.entity)
    if isinstance(found, str):
        return Outcome("ignored", found)
    rtype, rts = found
    keep = lifecycle_rules.needed_columns(rts.lifecycle, rts.watched) if notifier.lifecycle else set(rts.watched)
    raw = await _current(notifier, rtype, rts, op) if op.truncated else \
        {k: v for k, v in op.changed.items() if k in keep}
    if not raw:
        return Outcome("ignored", "no watched field changed")
    names = _Names(notifier)
    changed = {k: (await names.text(old), await names.text(new)) for k, (old, new) in raw.items()}
    owner = raw.get(lifecycle_rules.OWNER, ("", ""))[1]
    event = ChangeEvent(event_id=op.dedupe_key, record_type=rtype.logical_name, record_id=op.record_id,
                        changed=changed, changed_by=await names.user(op.user_id, op.modified_by), changed_at=op.at,
                        new_owner=(owner.logical_name, owner.id) if isinstance(owner, Ref) else None)
    return await notifier.submit(event, op.dedupe_key, fallback_url)


async def _current(notifier: Notifier, rtype: RecordType, rts: RecordTypeSettings,
                   op: Operation) -> dict[str, tuple[Value, Value]]:
    """Over 256 KB Dataverse sends no columns: show the record's current watched values, earlier ones unknown."""
    record = await notifier.records.get_record(rtype.logical_name, op.record_id)
    if record is None:
        return {}
    return {a: (UNKNOWN, str(record.values.get(a) or "")) for a in rts.watched}


class _Names:
    """Names for lookups Dataverse sent without one, read once each from the record source."""

    def __init__(self, notifier: Notifier) -> None:
        self.records = notifier.records
        self.cache: dict[tuple[str, str], str] = {}

    async def text(self, value: Value) -> str:
        if isinstance(value, str):
            return value
        if value.name:
            return value.name
        key = (value.logical_name, value.id)
        if key not in self.cache:
            self.cache[key] = await self._lookup(value) or value.id
        return self.cache[key]

    async def _lookup(self, ref: Ref) -> str | None:
        try:
            if ref.logical_name == "systemuser":
                user = await self.records.user(ref.id)
                return user.name if user else None
            if ref.logical_name == "team":
                team = await self.records.team(ref.id)
                return team.name if team else None
            record = await self.records.get_record(ref.logical_name, ref.id)
            return record.name if record else None
        except (GatewayError, LookupError, ValueError):
            return None

    async def user(self, user_id: str, modified_by: Value) -> str:
        if user_id:
            named = await self.text(Ref("systemuser", user_id.lower()))
            if named != user_id.lower():
                return named
        return await self.text(modified_by) if modified_by else user_id


def _record_url(request: web.Request, op: Operation) -> str:
    """The record in the CRM's own UI, for when the record source cannot say (x-ms-dynamics-organization)."""
    org = request.headers.get("x-ms-dynamics-organization", "")
    if not _HOST.match(org):
        return ""
    return f"https://{org}/main.aspx?etn={op.entity}&id={op.record_id}&pagetype=entityrecord"


async def outbox_status(request: web.Request) -> web.Response:
    ctx = request.app[NOTIFY]
    counts = await ctx.outbox.counts()
    stats: dict[str, Any] = {**vars(ctx.worker.stats), "held": ctx.worker.held(), "worker": ctx.worker.id}
    return web.json_response({"states": counts, "this_worker": stats})


def install(app: web.Application, *, config: web.AppKey[Config], db: web.AppKey[Database],
            service: web.AppKey[ChatService], connector: web.AppKey[ConnectorClient],
            router: web.AppKey[Router], lifecycle: web.AppKey[LifecycleService] | None = None) -> None:
    """Routes, plus a cleanup context (append after the app's own resources) that runs the delivery worker."""

    async def notifications(app: web.Application) -> Any:
        cfg, svc = app[config], app[service]
        outbox = SqlOutbox(app[db])
        policy = app[lifecycle] if lifecycle else None
        hooks = life.Hooks(policy, app[connector], app[connector]) if policy else None
        worker = DeliveryWorker(outbox, svc.connections, app[connector], hooks=hooks)
        notifier = Notifier(svc.records, SqlConnectionStore(app[db]), svc.settings, outbox, cfg.allowed_tenants,
                            worker.wake, policy)
        # With Dataverse the webhook reports the change `set` makes; the local source has no webhook.
        set_command.register(app[router], svc, notifier, submit_changes=cfg.record_source.startswith("local"))
        app[NOTIFY] = Notifications(cfg, notifier, worker, outbox)
        if not cfg.webhook_key:
            log.warning("DATAVERSE_WEBHOOK_KEY is not set: %s refuses every call", WEBHOOK_PATH)
        worker.start()
        yield
        await worker.stop()

    app.cleanup_ctx.append(notifications)
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/api/outbox/status", outbox_status)
