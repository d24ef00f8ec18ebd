"""POST /api/dataverse/webhook: Dataverse tells us a record changed; the watched changes are recorded in the outbox
for every connected chat (notify/intake.py, notify/notifier.py), and only then answered 200 (the posting happens
after, from notify/worker.py).

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

import telemetry
from config import Config
from domain.ports import GatewayError
from notify.intake import ingest
from notify.pipeline import Notifications
from notify.remote_context import BadPayload, Operation, parse
from webhooks.similar_intake import RESOLUTION, SimilarIntake

log = logging.getLogger(__name__)
WEBHOOK_PATH = "/api/dataverse/webhook"
SIZE_EXCEEDED = "x-ms-dynamics-msg-size-exceeded"
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:\d+)?$")


@dataclass
class Intake:
    config: Config
    notifications: Notifications
    similar: SimilarIntake | None = None  # the similar-cases index (AI-suggested contacts)


INTAKE = web.AppKey("dataverse_intake", Intake)
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
    if not telemetry.S.on:
        return await _webhook(request)
    with telemetry.span("dataverse.webhook") as current:
        response = await _webhook(request)
        outcome = _INTAKE.get(response.status, "error")
        telemetry.annotate(current, **{"cc.webhook.outcome": outcome, "http.response.status_code": response.status})
    telemetry.webhook(outcome)
    return response


_INTAKE = {200: "ok", 400: "bad_request", 401: "unauthorized", 413: "too_large", 503: "unavailable"}


async def _webhook(request: web.Request) -> web.Response:
    ctx = request.app[INTAKE]
    if not authorized(request, ctx.config):
        return web.json_response({"error": "missing or wrong webhook key"}, status=401)
    raw = await request.read()
    try:
        body = json.loads(raw.decode("utf-8-sig"))
        op = parse(body, raw, truncated=SIZE_EXCEEDED in request.headers)
    except (ValueError, RecursionError) as exc:  # BadPayload, JSON and encoding errors are ValueErrors
        message = (str(exc) if isinstance(exc, BadPayload) else f"the body is not JSON: {exc}"
                   if isinstance(exc, ValueError) else "the body is nested too deeply")
        return web.json_response({"error": message}, status=400)
    telemetry.OPERATION_ID.set(op.dedupe_key)
    try:  # the similar-cases index first: a failure leaves nothing recorded and Dataverse retries
        indexed = await ctx.similar.handle(body, op) if ctx.similar else None
    except Exception:
        log.exception("webhook for %s %s not indexed", op.entity, op.record_id)
        return web.json_response({"error": "the change could not be indexed; try again"}, status=503)
    if op.entity == RESOLUTION:
        return web.json_response({"status": "indexed" if indexed == "indexed" else "ignored", "index": indexed})
    if op.message != "Update":
        return web.json_response({"status": "ignored", "reason": f"{op.message} messages don't notify",
                                  "index": indexed})
    try:
        outcome = await ingest(ctx.notifications.notifier, op, _record_url(request, op))
    except GatewayError as exc:  # the record source is down: 503 makes Dataverse retry once
        log.warning("webhook for %s %s not accepted: %s", op.entity, op.record_id, exc)
        return web.json_response({"error": f"the record source is unavailable: {exc}"}, status=503)
    except Exception:  # the database is down: nothing was recorded, and 503 makes Dataverse retry
        log.exception("webhook for %s %s not accepted", op.entity, op.record_id)
        return web.json_response({"error": "the change could not be recorded; try again"}, status=503)
    return web.json_response({"status": outcome.status, "reason": outcome.reason, "chats": outcome.chats,
                              "index": indexed})


def _record_url(request: web.Request, op: Operation) -> str:
    """The record in the CRM's own UI, for when the record source cannot say (x-ms-dynamics-organization)."""
    org = request.headers.get("x-ms-dynamics-organization", "")
    if not _HOST.match(org):
        return ""
    return f"https://{org}/main.aspx?etn={op.entity}&id={op.record_id}&pagetype=entityrecord"


async def outbox_status(request: web.Request) -> web.Response:
    pipeline = request.app[INTAKE].notifications
    counts = await pipeline.outbox.counts()
    worker = pipeline.worker
    stats: dict[str, Any] = {**vars(worker.stats), "held": worker.held(), "worker": worker.id}
    return web.json_response({"states": counts, "this_worker": stats})


def install(app: web.Application) -> None:
    app.router.add_post(WEBHOOK_PATH, webhook)
    app.router.add_get("/api/outbox/status", outbox_status)


def bind(app: web.Application, config: Config, notifications: Notifications,
         similar: SimilarIntake | None = None) -> None:
    """Hands over the running pipeline (from app.py's resources, which start and stop it)."""
    app[INTAKE] = Intake(config, notifications, similar)
    if not config.webhook_key:
        log.warning("DATAVERSE_WEBHOOK_KEY is not set: %s refuses every call", WEBHOOK_PATH)
