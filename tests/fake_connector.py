"""A fake Bot Connector: receives what the bot posts (v3 conversations API) and can answer with errors."""
from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections import defaultdict
from typing import Any

from aiohttp import web

from tests.servers import serve


class FakeConnector:
    def __init__(self) -> None:
        self.activities: list[dict[str, Any]] = []
        self.by_conversation: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.times: dict[str, list[float]] = defaultdict(list)
        self.headers: list[dict[str, str]] = []
        self.failures: list[tuple[int, dict[str, str], float, str | None]] = []
        self.gone: set[str] = set()
        self.members: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # POST /v3/conversations bodies (1:1 proactive messages)
        self.unreachable: set[str] = set()  # user ids whose 1:1 conversation can't be created (403)
        self.rosters: dict[str, list[dict[str, Any]]] = {}  # conversation id -> its members (pagedmembers, members/x)
        self.member_lookups: list[tuple[str, str]] = []  # (conversation, member id) of each single-member GET
        self.member_delay = 0.0  # seconds each single-member GET waits (a slow Teams)
        self.member_in_flight = self.member_in_flight_max = 0  # single-member GETs being answered (most at once)
        self.url = ""
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.arrived = asyncio.Event()

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None, after: float = 0.0,
                  conv: str | None = None) -> None:
        """The next `times` posts (into `conv` only, if given) get `status`, each answered `after` seconds late."""
        headers = {"Retry-After": retry_after} if retry_after else {}
        self.failures += [(status, headers, after, conv)] * times

    async def _post(self, request: web.Request) -> web.Response:
        conv = request.match_info["conv"]
        self.headers.append(dict(request.headers))
        if conv in self.gone:
            return web.json_response({"error": {"code": "BotNotInConversationRoster"}}, status=403)
        failure = next((f for f in self.failures if f[3] in (None, conv)), None)
        if failure:
            self.failures.remove(failure)
            status, headers, after, _ = failure
            await asyncio.sleep(after)
            return web.json_response({"error": {"code": "Throttled"}}, status=status, headers=headers)
        body = await request.json()
        body["_replyTo"] = request.match_info.get("reply", "")
        self.activities.append(body)
        self.by_conversation[conv].append(body)
        self.times[conv].append(time.monotonic())
        self.arrived.set()
        return web.json_response({"id": f"act-{next(self._ids)}"})

    async def _create(self, request: web.Request) -> web.Response:
        """Create (or find) a 1:1 conversation: members[0].id is the user; Teams answers 201 with its id."""
        body = await request.json()
        members = body.get("members") or []
        user = str(members[0].get("id", "")) if members and isinstance(members[0], dict) else ""
        if not user or not body.get("bot", {}).get("id") or not (body.get("tenantId")
                                                                 or body.get("channelData", {}).get("tenant")):
            return web.json_response({"error": {"code": "BadArgument"}}, status=400)
        if user in self.unreachable:
            return web.json_response({"error": {"code": "Forbidden"}}, status=403)
        self.created.append(body)
        return web.json_response({"id": f"a:1on1-{user}"}, status=201)

    async def _member(self, request: web.Request) -> web.Response:
        """GET v3/conversations/{id}/members/{member id or Entra object id}: the member of that conversation, or
        404 MemberNotFoundInConversation (403 BotNotInConversationRoster where the bot is gone)."""
        conv, wanted = request.match_info["conv"], request.match_info["member"]
        self.member_lookups.append((conv, wanted))
        self.member_in_flight += 1
        self.member_in_flight_max = max(self.member_in_flight_max, self.member_in_flight)
        try:
            await asyncio.sleep(self.member_delay)
        finally:
            self.member_in_flight -= 1
        if conv in self.gone:
            return web.json_response({"error": {"code": "BotNotInConversationRoster"}}, status=403)
        roster = self.rosters.get(conv)
        if roster is None:
            member = self.members.get(wanted)
        else:
            member = next((m for m in roster if wanted.lower() in (str(m.get("id", "")).lower(),
                                                                   str(m.get("aadObjectId", "")).lower())), None)
        if member is None:
            return web.json_response({"error": {"code": "MemberNotFoundInConversation",
                                                "message": "The member is not part of the conversation."}},
                                     status=404)
        return web.json_response(member)

    async def _paged(self, request: web.Request) -> web.Response:
        """GET v3/conversations/{id}/pagedmembers: {"members": [...], "continuationToken": ...} pages."""
        roster = self.rosters.get(request.match_info["conv"])
        if roster is None:
            return web.json_response({"error": {"code": "ConversationNotFound"}}, status=404)
        size = int(request.query.get("pageSize", "100"))
        start = int(request.query.get("continuationToken", "0") or 0)
        page = {"members": roster[start:start + size]}
        if start + size < len(roster):
            page["continuationToken"] = str(start + size)
        return web.json_response(page)

    async def _put(self, request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["act"]})

    async def start(self) -> FakeConnector:
        app = web.Application()
        app.router.add_post("/v3/conversations", self._create)
        app.router.add_post("/v3/conversations/{conv}/activities", self._post)
        app.router.add_post("/v3/conversations/{conv}/activities/{reply}", self._post)
        app.router.add_put("/v3/conversations/{conv}/activities/{act}", self._put)
        app.router.add_get("/v3/conversations/{conv}/members/{member}", self._member)
        app.router.add_get("/v3/conversations/{conv}/pagedmembers", self._paged)
        self._runner, base = await serve(app)
        self.url = base + "/"
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()

    def cards(self, conv: str) -> list[dict[str, Any]]:
        return [a["content"] for act in self.by_conversation[conv] for a in act.get("attachments", [])
                if a.get("contentType") == "application/vnd.microsoft.card.adaptive"]

    def texts(self, conv: str) -> list[str]:
        return [act.get("text", "") for act in self.by_conversation[conv] if act.get("text")]

    async def wait_for(self, conv: str, count: int, seconds: float = 5.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + seconds
        while len(self.by_conversation[conv]) < count and time.monotonic() < deadline:
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), max(0.0, deadline - time.monotonic()))
        return self.by_conversation[conv]
