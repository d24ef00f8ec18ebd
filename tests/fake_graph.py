"""A small fake Microsoft Graph for tests: an aiohttp server on 127.0.0.1, port 0, under /v1.0.

It speaks the documented request/response shapes of the calls the gateway makes (create chat, list/add
members, a user's chats, install an app, app catalog lookup, users with assignedPlans, getPresencesByUserId), checks the
request bodies the way Graph does where a wrong body would fail in production, and records every request.

    async with FakeGraph() as g:
        g.set_user(aad_id, licensed=True, presence="Available")
        g.add_chat("19:abc@thread.v2", members=[aad_id], topic="Case 42", last_message_at="2026-12-01T10:00:00Z")
        g.throttle(2, retry_after=1)          # the next two calls get 429 + Retry-After: 1
        g.fail(1, status=403)                 # the next call gets 403 with a Graph error body
        g.delay = 6.0                         # every answer takes 6 s
        ... g.url, g.requests, g.calls("POST", "/chats") ...
"""
from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

PREFIX = "/v1.0"
# Graph's docs show both users('<id>') and users/<id> in binds.
BIND_USER = re.compile(r"^https://[^/]+/(?:v1\.0|beta)/users(?:\('([^'/]+)'\)|/([^'/()]+))$")
BIND_APP = re.compile(r"^https://[^/]+/(v1\.0|beta)/appCatalogs/teamsApps/([^/]+)$")
MAX_PRESENCE_IDS = 650
MAX_IN_VALUES = 15
JSON = web.RequestKey("json", object)  # the parsed request body, read once by the recording middleware


@dataclass
class Recorded:
    method: str
    path: str  # relative to the API root, e.g. /chats/19:x@thread.v2/members
    query: dict[str, str]
    json: Any
    headers: dict[str, str]  # lower-cased names


@dataclass
class FakeUser:
    id: str
    name: str
    licensed: bool
    presence: str
    activity: str


@dataclass
class FakeChat:
    id: str
    topic: str | None
    chat_type: str = "group"
    members: list[dict[str, Any]] = field(default_factory=list)
    installed: list[str] = field(default_factory=list)
    last_message_at: str = "2024-01-01T00:00:00Z"  # lastMessagePreview/createdDateTime (orders a user's chats)


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    """Graph's error envelope: {"error": {"code", "message", "innerError"}}."""
    body = {"error": {"code": code, "message": message,
                      "innerError": {"request-id": str(uuid.uuid4()), "date": "2024-01-01T00:00:00"}}}
    return web.json_response(body, status=status, headers=headers)


class FakeGraph:
    def __init__(self, page_size: int = 100) -> None:
        self.page_size = page_size
        self.requests: list[Recorded] = []
        self.chats: dict[str, FakeChat] = {}
        self.users: dict[str, FakeUser] = {}
        self.catalog: dict[str, str] = {}  # manifest (external) id -> catalog id
        self._faults: list[tuple[int, dict[str, str], str, str]] = []
        self.delay = 0.0  # seconds every answer waits (a slow Graph)
        self._runner: web.AppRunner | None = None
        self.url = ""

    # -- knobs -------------------------------------------------------------------------------------------

    def throttle(self, n: int, retry_after: int | None = 1, status: int = 429) -> None:
        """Answer the next n requests with status (429/503/504) and Retry-After (None: no header)."""
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        code = {429: "TooManyRequests", 503: "ServiceUnavailable", 504: "GatewayTimeout"}.get(status, "Error")
        self._faults += [(status, headers, code, "Too many requests.")] * n

    def fail(self, n: int = 1, status: int = 403, code: str = "Forbidden",
             message: str = "Missing role permissions on the request.") -> None:
        self._faults += [(status, {}, code, message)] * n

    def add_chat(self, chat_id: str, members: Sequence[str] = (), topic: str | None = None,
                 chat_type: str = "group", last_message_at: str = "2024-01-01T00:00:00Z") -> FakeChat:
        chat = FakeChat(chat_id, topic, chat_type, last_message_at=last_message_at)
        for aad in members:
            chat.members.append(self._member(chat_id, aad, ["owner"], "0001-01-01T00:00:00Z"))
        self.chats[chat_id] = chat
        return chat

    def set_user(self, aad_id: str, licensed: bool = True, presence: str = "Available",
                 activity: str | None = None, name: str = "") -> FakeUser:
        user = FakeUser(aad_id, name or f"User {aad_id[:8]}", licensed, presence, activity or presence)
        self.users[aad_id] = user
        return user

    def add_catalog_app(self, external_id: str, catalog_id: str) -> None:
        self.catalog[external_id] = catalog_id

    def calls(self, method: str, path: str) -> list[Recorded]:
        """Recorded requests with this method whose path matches the regex `path` in full."""
        return [r for r in self.requests if r.method == method and re.fullmatch(path, r.path)]

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def __aenter__(self) -> FakeGraph:
        app = web.Application(middlewares=[self._record])
        r = app.router
        r.add_post(PREFIX + "/chats", self._create_chat)
        r.add_get(PREFIX + "/chats/{chat}", self._get_chat)
        r.add_get(PREFIX + "/chats/{chat}/members", self._list_members)
        r.add_post(PREFIX + "/chats/{chat}/members", self._add_member)
        r.add_post(PREFIX + "/chats/{chat}/installedApps", self._install)
        r.add_get(PREFIX + "/appCatalogs/teamsApps", self._catalog)
        r.add_get(PREFIX + "/users", self._list_users)
        r.add_get(PREFIX + "/users/{user}", self._get_user)
        r.add_get(PREFIX + "/users/{user}/chats", self._user_chats)
        r.add_post(PREFIX + "/communications/getPresencesByUserId", self._presences)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{PREFIX}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    # -- plumbing ----------------------------------------------------------------------------------------

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = await request.json() if raw else None
            except ValueError:
                return graph_error(400, "BadRequest", "Invalid JSON body.")
        path = request.path[len(PREFIX):] if request.path.startswith(PREFIX) else request.path
        self.requests.append(Recorded(request.method, path, dict(request.query), body,
                                      {k.lower(): v for k, v in request.headers.items()}))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self._faults:
            status, headers, code, message = self._faults.pop(0)
            return graph_error(status, code, message, headers)
        request[JSON] = body
        return await handler(request)

    def _member(self, chat_id: str, aad: str, roles: list[str], history: str) -> dict[str, Any]:
        user = self.users.get(aad)
        return {"@odata.type": "#microsoft.graph.aadUserConversationMember",
                "id": f"{chat_id}#{aad}", "roles": roles, "displayName": user.name if user else None,
                "visibleHistoryStartDateTime": history, "userId": aad, "email": None,
                "tenantId": "00000000-0000-0000-0000-000000000001"}

    def _chat_or_404(self, request: web.Request) -> FakeChat | web.Response:
        chat = self.chats.get(request.match_info["chat"])
        return chat if chat else graph_error(404, "NotFound", "Chat not found.")

    def _bound_user(self, member: Any) -> str | web.Response:
        """The user id from a conversationMember body, validated as Graph validates it."""
        if not isinstance(member, dict) or member.get("@odata.type") != "#microsoft.graph.aadUserConversationMember":
            return graph_error(400, "BadRequest", "Member must be #microsoft.graph.aadUserConversationMember.")
        m = BIND_USER.match(str(member.get("user@odata.bind", "")))
        if not m:
            return graph_error(400, "BadRequest", "Invalid user@odata.bind.")
        return m.group(1) or m.group(2)

    # -- handlers ----------------------------------------------------------------------------------------

    async def _create_chat(self, request: web.Request) -> web.Response:
        body = request[JSON] or {}
        if body.get("chatType") not in ("group", "oneOnOne"):
            return graph_error(400, "BadRequest", "chatType must be group or oneOnOne.")
        members = body.get("members") or []
        if len(members) < 2 or len(members) > 250:
            return graph_error(400, "BadRequest", "A chat needs 2 to 250 members.")
        chat = FakeChat(f"19:{uuid.uuid4().hex}@thread.v2", body.get("topic"), body["chatType"])
        for member in members:
            aad = self._bound_user(member)
            if isinstance(aad, web.Response):
                return aad
            if "owner" not in (member.get("roles") or []):
                return graph_error(400, "BadRequest", "Every member of a new chat must be an owner.")
            chat.members.append(self._member(chat.id, aad, member["roles"], "0001-01-01T00:00:00Z"))
        self.chats[chat.id] = chat
        return web.json_response(self._chat_json(chat), status=201)

    def _chat_json(self, chat: FakeChat) -> dict[str, Any]:
        return {"@odata.context": f"{self.url}/$metadata#chats/$entity", "id": chat.id, "topic": chat.topic,
                "createdDateTime": "2024-01-01T00:00:00Z", "lastUpdatedDateTime": "2024-01-01T00:00:00Z",
                "chatType": chat.chat_type, "webUrl": f"https://teams.microsoft.com/l/chat/{chat.id}/0",
                "tenantId": "00000000-0000-0000-0000-000000000001", "viewpoint": None}

    async def _get_chat(self, request: web.Request) -> web.Response:
        chat = self._chat_or_404(request)
        return chat if isinstance(chat, web.Response) else web.json_response(self._chat_json(chat))

    async def _list_members(self, request: web.Request) -> web.Response:
        chat = self._chat_or_404(request)
        if isinstance(chat, web.Response):
            return chat
        start = int(request.query.get("$skiptoken", "0"))
        page = chat.members[start:start + self.page_size]
        body: dict[str, Any] = {"@odata.context": f"{self.url}/$metadata#chats('{chat.id}')/members",
                                "@odata.count": len(chat.members), "value": page}
        if start + self.page_size < len(chat.members):
            body["@odata.nextLink"] = f"{self.url}/chats/{chat.id}/members?$skiptoken={start + self.page_size}"
        return web.json_response(body)

    async def _add_member(self, request: web.Request) -> web.Response:
        chat = self._chat_or_404(request)
        if isinstance(chat, web.Response):
            return chat
        body = request[JSON] or {}
        aad = self._bound_user(body)
        if isinstance(aad, web.Response):
            return aad
        history = body.get("visibleHistoryStartDateTime")
        member = self._member(chat.id, aad, body.get("roles") or [], history or "")
        chat.members = [m for m in chat.members if m["userId"] != aad] + [member]
        return web.json_response(member, status=201)

    async def _install(self, request: web.Request) -> web.Response:
        chat = self._chat_or_404(request)
        if isinstance(chat, web.Response):
            return chat
        m = BIND_APP.match(str((request[JSON] or {}).get("teamsApp@odata.bind", "")))
        if not m:
            return graph_error(400, "BadRequest", "Invalid teamsApp@odata.bind.")
        if m.group(2) in chat.installed:
            return graph_error(409, "Conflict", "App is already installed in this chat.")
        chat.installed.append(m.group(2))
        return web.Response(status=201)

    async def _catalog(self, request: web.Request) -> web.Response:
        m = re.fullmatch(r"externalId eq '([^']*)'", request.query.get("$filter", ""))
        if not m:
            return graph_error(400, "BadRequest", "Unsupported $filter.")
        found = [{"id": self.catalog[m.group(1)], "externalId": m.group(1), "displayName": "Connected chats",
                  "distributionMethod": "organization"}] if m.group(1) in self.catalog else []
        return web.json_response({"@odata.context": f"{self.url}/$metadata#appCatalogs/teamsApps", "value": found})

    def _user_json(self, user: FakeUser) -> dict[str, Any]:
        plans = [{"assignedDateTime": "2024-01-01T00:00:00Z", "capabilityStatus": "Enabled", "service": "exchange",
                  "servicePlanId": "efb87545-963c-4e0d-99df-69c6916d9eb0"}]
        if user.licensed:
            plans.append({"assignedDateTime": "2024-01-01T00:00:00Z", "capabilityStatus": "Enabled",
                          "service": "TeamspaceAPI", "servicePlanId": "57ff2da0-773e-42df-b2af-ffb7a2317929"})
        return {"id": user.id, "displayName": user.name, "assignedPlans": plans}

    async def _list_users(self, request: web.Request) -> web.Response:
        m = re.fullmatch(r"id in \(((?:'[^']*',?\s*)*)\)", request.query.get("$filter", ""))
        if not m:
            return graph_error(400, "BadRequest", "Unsupported $filter.")
        ids = re.findall(r"'([^']*)'", m.group(1))
        if len(ids) > MAX_IN_VALUES:
            return graph_error(400, "Request_UnsupportedQuery", "Too many values in an 'in' filter (max 15).")
        found = [self._user_json(self.users[i]) for i in ids if i in self.users]
        return web.json_response({"@odata.context": f"{self.url}/$metadata#users", "value": found})

    async def _get_user(self, request: web.Request) -> web.Response:
        user = self.users.get(request.match_info["user"])
        if not user:
            return graph_error(404, "Request_ResourceNotFound", "Resource does not exist.")
        return web.json_response(self._user_json(user))

    async def _user_chats(self, request: web.Request) -> web.Response:
        """GET /users/{id}/chats (application permission Chat.ReadBasic.All): the chats the user is a member of.
        Supports what Graph documents: $filter on chatType, $orderby lastMessagePreview/createdDateTime desc only,
        $top up to 50, and @odata.nextLink paging."""
        user = request.match_info["user"].lower()
        query = request.query
        top = query.get("$top", "20")
        if not top.isdigit() or not 1 <= int(top) <= 50:
            return graph_error(400, "BadRequest", "$top must be between 1 and 50.")
        order = query.get("$orderby")
        if order not in (None, "lastMessagePreview/createdDateTime desc"):
            return graph_error(400, "BadRequest", "$orderby supports lastMessagePreview/createdDateTime desc only.")
        wanted = query.get("$filter", "")
        kind = re.fullmatch(r"chatType eq '(\w+)'", wanted)
        if wanted and not kind:
            return graph_error(400, "BadRequest", "Unsupported $filter.")
        chats = [c for c in self.chats.values() if any(m["userId"].lower() == user for m in c.members)
                 and (kind is None or c.chat_type == kind.group(1))]
        if order:
            chats.sort(key=lambda c: c.last_message_at, reverse=True)
        start, size = int(query.get("$skiptoken", "0")), int(top)
        body: dict[str, Any] = {"@odata.context": f"{self.url}/$metadata#chats",
                                "@odata.count": len(chats[start:start + size]),
                                "value": [self._chat_json(c) for c in chats[start:start + size]]}
        if start + size < len(chats):
            body["@odata.nextLink"] = (f"{self.url}/users/{request.match_info['user']}/chats?$top={top}"
                                       f"&$skiptoken={start + size}" + (f"&$orderby={order}" if order else "")
                                       + (f"&$filter={wanted}" if wanted else ""))
        return web.json_response(body)

    async def _presences(self, request: web.Request) -> web.Response:
        ids = (request[JSON] or {}).get("ids")
        if not isinstance(ids, list) or not ids or len(ids) > MAX_PRESENCE_IDS:
            return graph_error(400, "BadRequest", "ids must hold 1 to 650 user ids.")
        value = []
        for i in ids:
            user = self.users.get(i)
            value.append({"@odata.type": "#microsoft.graph.presence", "id": i,
                          "availability": user.presence if user else "PresenceUnknown",
                          "activity": user.activity if user else "PresenceUnknown"})
        return web.json_response({"@odata.context": f"{self.url}/$metadata#Collection(microsoft.graph.presence)",
                                  "value": value})
