"""POST /api/messages, the bot's door: validates and authenticates the activity, reads it into a Turn, routes it, and
answers. Replies go to the Bot Connector as JSON on one shared aiohttp session (teams/connector.py); invokes are
answered in the HTTP response, as Teams expects. No botbuilder on this path: Microsoft's Python Bot Framework SDK
is past its end of support, and its Activity model, TurnContext and ActivityHandler took ~6 % of a `help` turn
(py-spy) and 13 MB of memory for a dispatch by activity type that is four lines here."""
from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web

import telemetry
from auth.jwks import Expectation, InvalidToken, KeySet, Refusal
from bots.activity import missing, read_turn
from bots.router import Router
from bots.turn import InvokeResult, Turn
from teams import wirejson
from teams.connector import ConnectorClient, envelope

log = logging.getLogger(__name__)
MAX_BODY = 512 * 1024
# What a request learned, for telemetry (TeamsAdapter.handle reads them once the answer is known).
_REQ_TURN = web.RequestKey("connected_chats.turn", Turn)
_OUTCOME_KEY = web.RequestKey("connected_chats.outcome", str)
_KIND_KEY = web.RequestKey("connected_chats.kind", str)
KINDS = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event"})
# The activity types the router answers; others (reactions, typing, message edits and deletes, events) get a 200.
_ROUTED = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate"})
_OUTCOMES = {200: "ok", 400: "bad_request", 401: "refused", 403: "forbidden", 413: "bad_request"}
_SORRY = "Sorry, something went wrong on my side. Please try again."


class TeamsAdapter:
    """POST /api/messages: validate, authenticate, dispatch, answer."""

    def __init__(self, router: Router, connector: ConnectorClient, keys: KeySet | None, app_id: str,
                 issuer: str, allowed_tenants: frozenset[str]) -> None:
        self._router = router
        self._connector = connector
        self._keys = keys
        self._expect = Expectation(issuers=(issuer,), audiences=(app_id,))
        self._allowed = allowed_tenants

    async def handle(self, request: web.Request) -> web.Response:
        if not telemetry.S.on:
            return await self._handle(request)
        began = time.perf_counter()
        with telemetry.span("teams.turn") as current:
            response = await self._handle(request)
            turn = request.get(_REQ_TURN)
            kind = request.get(_KIND_KEY, "other")  # set once the body is known to be an activity
            command = self._router.label(turn) if turn else ""
            outcome = request.get(_OUTCOME_KEY) or _OUTCOMES.get(response.status, "error")
            telemetry.annotate(current, **{"cc.turn.kind": kind, "cc.turn.command": command,
                                           "cc.turn.outcome": outcome, "http.response.status_code": response.status})
        telemetry.turn(kind, command, outcome, time.perf_counter() - began)
        return response

    async def _handle(self, request: web.Request) -> web.Response:
        if request.content_length and request.content_length > MAX_BODY:
            response = _error(413, "activity too large")
            response.force_close()  # don't wait for a body we will never read
            return response
        try:
            raw = wirejson.loads(await request.read())
        except (ValueError, UnicodeDecodeError):
            return _error(400, "the body is not valid JSON")
        problem = missing(raw)
        if problem:
            return _error(400, problem)
        telemetry.ACTIVITY_ID.set(str(raw.get("id") or "")[:128])  # for log correlation (LOG_FORMAT=json)
        if telemetry.S.on:
            request[_KIND_KEY] = raw["type"] if raw["type"] in KINDS else "other"
        if self._keys is not None and not await _authentic(self._keys, self._expect, request, raw):
            return _error(401, "unauthorized")
        try:
            turn = read_turn(raw)
        except (TypeError, ValueError, AttributeError):  # read_turn checks each field's type; this is a backstop
            return _error(400, "the activity could not be read")
        request[_REQ_TURN] = turn
        if self._allowed and turn.ctx.tenant_id not in self._allowed:
            return _error(403, "this tenant is not allowed to use this bot")
        if turn.kind not in _ROUTED:
            return web.Response(status=200)
        try:
            invoke = await self._route(turn)
        except Exception:
            log.exception("turn failed (activity %s)", turn.activity_id)
            request[_OUTCOME_KEY] = "error"
            return await self._failed(turn)
        if turn.kind != "invoke":
            return web.Response(status=200)
        if invoke is None:
            return web.json_response({}, status=200)
        return web.Response(body=wirejson.dumps(invoke.body if invoke.body is not None else {}),
                            status=invoke.status or 200, content_type="application/json")

    async def _route(self, turn: Turn) -> InvokeResult | None:
        answer = await self._router.handle(turn)
        for reply in answer.replies:
            await self._send(turn, envelope(turn.ctx.conversation_id, card=reply.card, text=reply.text,
                                            bot_id=turn.ctx.bot_id, reply_to=turn.activity_id))
        return answer.invoke

    async def _send(self, turn: Turn, activity: dict[str, Any]) -> None:
        # A reply threads under the activity it answers, except in a personal chat, which has no threads.
        reply_to = turn.activity_id if turn.ctx.conversation_type != "personal" else None
        await self._connector.send(turn.ctx.service_url, turn.ctx.conversation_id, activity, reply_to)

    async def _failed(self, turn: Turn) -> web.Response:
        if turn.kind == "invoke":
            return web.json_response({"statusCode": 500, "type": "application/vnd.microsoft.error",
                                      "value": {"code": "InternalError", "message": "Something went wrong."}},
                                     status=200)
        try:
            await self._send(turn, envelope(turn.ctx.conversation_id, text=_SORRY, bot_id=turn.ctx.bot_id,
                                            reply_to=turn.activity_id))
        except Exception:
            log.warning("could not tell the user about the failure")
        return web.Response(status=200)


async def _authentic(keys: KeySet, expect: Expectation, request: web.Request, raw: dict[str, Any]) -> bool:
    try:
        claims = await keys.validate(request.headers.get("Authorization"), expect, raw.get("channelId"))
        # As botframework-connector's ChannelValidation: the token must name the serviceUrl the bot will send its
        # own credentials to; a missing or empty claim is a refusal, never a match.
        if claims.get("serviceurl") != raw["serviceUrl"]:
            raise InvalidToken("serviceurl claim missing or not the activity's", Refusal.SERVICE_URL)
    except InvalidToken as exc:
        # The reason only: the details quote what the sender chose (key ids, issuers).
        log.info("refused activity: %s", exc.reason)
        telemetry.token_refused(exc.reason)
        return False
    return True


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)
