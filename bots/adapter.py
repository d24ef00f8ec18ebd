"""The only module that imports botbuilder. It keeps botbuilder's activity model and ActivityHandler dispatch but
owns the transport: requests are authenticated with cached keys, replies go out on one shared aiohttp session, and
invokes are answered with our own JSON response (botbuilder 4.17.1's CloudAdapter turns them into HTTP 500)."""
from __future__ import annotations

import logging
import time
from typing import Any

from aiohttp import web
from botbuilder.core import ActivityHandler, BotAdapter, InvokeResponse, TurnContext
from botbuilder.schema import (
    Activity,
    ActivityTypes,
    ChannelAccount,
    ConversationAccount,
    ConversationReference,
    ResourceResponse,
)

import telemetry
from auth.jwks import Expectation, InvalidToken, KeySet, Refusal
from bots.parsing import strip_bot_mention
from bots.router import Router
from bots.turn import Mention, Reply, Turn
from domain.results import ChatContext
from teams import wirejson
from teams.connector import ConnectorClient, envelope

log = logging.getLogger(__name__)
MAX_BODY = 512 * 1024
_TURN_KEY = "connected_chats.turn"
# What a request learned, for telemetry (TeamsAdapter.handle reads them once the answer is known).
_REQ_TURN = web.RequestKey("connected_chats.turn", Turn)
_OUTCOME_KEY = web.RequestKey("connected_chats.outcome", str)
_KIND_KEY = web.RequestKey("connected_chats.kind", str)
KINDS = frozenset({"message", "invoke", "conversationUpdate", "installationUpdate", "messageReaction", "event"})
_OUTCOMES = {200: "ok", 400: "bad_request", 401: "refused", 403: "forbidden", 413: "bad_request"}


class _Adapter(BotAdapter):
    def __init__(self, connector: ConnectorClient) -> None:
        super().__init__()
        self._connector = connector

    async def send_activities(self, context: TurnContext, activities: list[Activity]) -> list[ResourceResponse]:
        responses = []
        for activity in activities:
            if activity.type == ActivityTypes.invoke_response:
                context.turn_state[self._INVOKE_RESPONSE_KEY] = activity.value
                responses.append(ResourceResponse(id=""))
                continue
            conv = activity.conversation or context.activity.conversation
            service_url = activity.service_url or context.activity.service_url
            body = activity.serialize()
            reply_to = activity.reply_to_id if context.activity.conversation.conversation_type != "personal" else None
            responses.append(ResourceResponse(id=await self._connector.send(service_url, conv.id, body, reply_to)))
        return responses

    async def update_activity(self, context: TurnContext, activity: Activity) -> ResourceResponse:
        raise NotImplementedError("this bot never edits messages")

    async def delete_activity(self, context: TurnContext, reference: ConversationReference) -> None:
        raise NotImplementedError("this bot never deletes messages")


class _Dispatcher(ActivityHandler):
    """Maps ActivityHandler's typed callbacks onto the router and sends what it answers."""

    def __init__(self, router: Router, connector: ConnectorClient) -> None:
        self._router = router
        self._connector = connector

    async def _route(self, context: TurnContext) -> Any:
        turn: Turn = context.turn_state[_TURN_KEY]
        answer = await self._router.handle(turn)
        # Replies go straight to the connector as JSON: msrest's serialize and TurnContext's deep copies cost
        # more than the rest of a turn (profiled: ~0.6 ms of ~1.2 ms).
        for reply in answer.replies:
            await self._connector.send(turn.ctx.service_url, turn.ctx.conversation_id, _reply(reply, turn),
                                       turn.activity_id if turn.ctx.conversation_type != "personal" else None)
        return answer.invoke

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await self._route(turn_context)

    async def on_conversation_update_activity(self, turn_context: TurnContext) -> None:
        await self._route(turn_context)

    async def on_installation_update(self, turn_context: TurnContext) -> None:
        await self._route(turn_context)

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        result = await self._route(turn_context)
        response = InvokeResponse(status=result.status if result else 200, body=result.body if result else {})
        # Stored where TeamsAdapter reads it: ActivityHandler then skips sending it as an invoke-response activity,
        # which TurnContext deep-copies with the card inside (profiled: 60 % of a card-button turn).
        turn_context.turn_state[BotAdapter._INVOKE_RESPONSE_KEY] = response
        return response


def _reply(reply: Reply, turn: Turn) -> dict[str, Any]:
    return envelope(turn.ctx.conversation_id, card=reply.card, text=reply.text, bot_id=turn.ctx.bot_id,
                    reply_to=turn.activity_id)


def _activity(raw: dict[str, Any]) -> Activity:
    """Builds botbuilder's Activity from the fields this bot reads; ~35x faster than msrest's deserialize."""
    conv, bot, sender = raw["conversation"], raw["recipient"], raw.get("from") or {}

    def members(key: str) -> list[ChannelAccount] | None:
        items = raw.get(key)
        return [ChannelAccount(id=str(m.get("id", "")), name=m.get("name"), aad_object_id=m.get("aadObjectId"))
                for m in items if isinstance(m, dict)] if isinstance(items, list) else None

    return Activity(
        type=raw["type"], id=raw.get("id"), name=raw.get("name"), text=raw.get("text"), value=raw.get("value"),
        service_url=raw["serviceUrl"], channel_id=raw.get("channelId"), reply_to_id=raw.get("replyToId"),
        action=raw.get("action"), channel_data=raw.get("channelData"),
        members_added=members("membersAdded"), members_removed=members("membersRemoved"),
        conversation=ConversationAccount(id=conv["id"], conversation_type=conv.get("conversationType"),
                                         is_group=conv.get("isGroup"), tenant_id=conv.get("tenantId"),
                                         name=conv.get("name")),
        recipient=ChannelAccount(id=bot["id"], name=bot.get("name")),
        from_property=ChannelAccount(id=sender.get("id"), name=sender.get("name"),
                                     aad_object_id=sender.get("aadObjectId")))


def _turn(activity: Activity, raw: dict[str, Any]) -> Turn:
    conv, bot, sender = activity.conversation, activity.recipient, activity.from_property
    channel_data = raw.get("channelData") or {}
    tenant = (conv.tenant_id or (channel_data.get("tenant") or {}).get("id") or "").lower()
    conv_type = conv.conversation_type or ("groupChat" if conv.is_group else "personal")
    if channel_data.get("channel") or channel_data.get("teamsChannelId"):
        conv_type = "channel"
    bot_names = {(bot.name or "").lower()}
    to_bot = conv_type == "personal"
    mentions = []
    for entity in raw.get("entities") or ():
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = entity.get("mentioned") or {}
        if not isinstance(mentioned, dict):
            continue
        if mentioned.get("id") == bot.id:
            bot_names.add(str(mentioned.get("name", "")).lower())
            to_bot = True
        else:
            mentions.append(Mention(str(mentioned.get("id", "")), str(mentioned.get("name", "")),
                                    str(mentioned.get("aadObjectId", ""))))
    added, removed = activity.members_added or (), activity.members_removed or ()
    topic = raw.get("topicName") if activity.type == "conversationUpdate" else None
    install = activity.action if activity.type == "installationUpdate" else None
    ctx = ChatContext(tenant_id=tenant, conversation_id=conv.id, conversation_type=conv_type,
                      user_aad=(sender.aad_object_id or "").lower() if sender else "",
                      user_name=sender.name or "" if sender else "", service_url=activity.service_url,
                      bot_id=bot.id or "")
    value = activity.value if isinstance(activity.value, dict) else None
    return Turn(kind=activity.type, ctx=ctx, text=strip_bot_mention(activity.text or "", bot_names),
                name=activity.name or "", value=value, activity_id=activity.id or "",
                mentions=tuple(mentions),
                # Teams (and the Agents Playground) announce an install twice, as installationUpdate "add" and
                # as conversationUpdate membersAdded: only the latter counts, or every welcome is sent twice.
                bot_added=any(m.id == bot.id for m in added),
                bot_removed=any(m.id == bot.id for m in removed) or install in ("remove", "remove-upgrade"),
                chat_title=conv.name or "", addressed=to_bot, topic=topic if isinstance(topic, str) else None,
                joined=_people(added, bot.id), left=_people(removed, bot.id))


def _people(members: Any, bot_id: str | None) -> tuple[Mention, ...]:
    """People added to or removed from the conversation, the bot left out."""
    return tuple(Mention(str(m.id), str(m.name or ""), str(m.aad_object_id or "").lower()) for m in members
                 if m.id != bot_id) if members else ()


class TeamsAdapter:
    """POST /api/messages: validate, authenticate, dispatch, answer."""

    def __init__(self, router: Router, connector: ConnectorClient, keys: KeySet | None, app_id: str,
                 issuer: str, allowed_tenants: frozenset[str]) -> None:
        self._adapter = _Adapter(connector)
        self._router = router
        self._bot = _Dispatcher(router, connector)
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
        problem = _missing(raw)
        if problem:
            return _error(400, problem)
        telemetry.ACTIVITY_ID.set(str(raw.get("id") or "")[:128])  # for log correlation (LOG_FORMAT=json)
        if telemetry.S.on:
            request[_KIND_KEY] = raw["type"] if raw["type"] in KINDS else "other"
        if self._keys is not None:
            try:
                claims = await self._keys.validate(request.headers.get("Authorization"), self._expect,
                                                   raw.get("channelId"))
                # As botframework-connector's ChannelValidation: the token must name the serviceUrl the bot
                # will send its own credentials to; a missing or empty claim is a refusal, never a match.
                if claims.get("serviceurl") != raw["serviceUrl"]:
                    raise InvalidToken("serviceurl claim missing or not the activity's", Refusal.SERVICE_URL)
            except InvalidToken as exc:
                # The reason only: the details quote what the sender chose (key ids, issuers).
                log.info("refused activity: %s", exc.reason)
                telemetry.token_refused(exc.reason)
                return _error(401, "unauthorized")
        try:
            activity = _activity(raw)
        except (TypeError, ValueError, AttributeError):
            return _error(400, "the activity could not be read")
        turn = _turn(activity, raw)
        request[_REQ_TURN] = turn
        if self._allowed and turn.ctx.tenant_id not in self._allowed:
            return _error(403, "this tenant is not allowed to use this bot")
        context = TurnContext(self._adapter, activity)
        context.turn_state[_TURN_KEY] = turn
        try:
            await self._adapter.run_pipeline(context, self._bot.on_turn)
        except Exception:
            log.exception("turn failed (activity %s)", activity.id)
            request[_OUTCOME_KEY] = "error"
            return await self._failed(context, turn)
        return _answer(context, turn)

    async def _failed(self, context: TurnContext, turn: Turn) -> web.Response:
        if turn.kind == "invoke":
            return web.json_response({"statusCode": 500, "type": "application/vnd.microsoft.error",
                                      "value": {"code": "InternalError", "message": "Something went wrong."}},
                                     status=200)
        try:
            await context.send_activity("Sorry, something went wrong on my side. Please try again.")
        except Exception:
            log.warning("could not tell the user about the failure")
        return web.Response(status=200)


def _answer(context: TurnContext, turn: Turn) -> web.Response:
    if turn.kind != "invoke":
        return web.Response(status=200)
    invoke = context.turn_state.get(BotAdapter._INVOKE_RESPONSE_KEY)
    if invoke is None:
        return web.json_response({}, status=200)
    return web.Response(body=wirejson.dumps(invoke.body if invoke.body is not None else {}),
                        status=invoke.status or 200, content_type="application/json")


def _missing(raw: Any) -> str:
    if not isinstance(raw, dict):
        return "the activity must be a JSON object"
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        return "the activity has no type"
    if not isinstance(raw.get("serviceUrl"), str) or not raw["serviceUrl"].startswith(("http://", "https://")):
        return "the activity has no valid serviceUrl"
    for part in ("conversation", "recipient"):
        if not isinstance(raw.get(part), dict) or not isinstance(raw[part].get("id"), str):
            return f"the activity has no {part}.id"
    if raw.get("from") is not None and not isinstance(raw.get("from"), dict):
        return "the activity's from must be an object"
    return ""


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"code": str(status), "message": message}}, status=status)
