"""Helpers for the admin tab tests: the app started with single sign-on against a FakeIdentity, and a small
client that calls the tab API as a given Entra user."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_identity import CLIENT_ID, FakeIdentity, bearer
from tests.teams import TENANT, Bot


@dataclass
class Reply:
    status: int
    body: Any
    headers: Mapping[str, str]  # case-insensitive

    @property
    def etag(self) -> str:
        return self.headers.get("ETag", "")


class Tab:
    """Calls the running app's tab API like the tab page does, with a token for `user` (an Entra object id)."""

    def __init__(self, url: str, http: aiohttp.ClientSession, entra: FakeIdentity, bot: Bot) -> None:
        self.url, self.http, self.entra, self.bot = url, http, entra, bot

    def auth(self, user: str | None, **claims: Any) -> dict[str, str]:
        return bearer(self.entra.token(user, **claims)) if user else {}

    async def call(self, method: str, path: str, user: str | None = None, body: Any = None,
                   headers: dict[str, str] | None = None, **claims: Any) -> Reply:
        all_headers = {**self.auth(user, **claims), **(headers or {})}
        data = body if isinstance(body, (bytes, str)) or body is None else json.dumps(body)
        if data is not None:
            all_headers.setdefault("Content-Type", "application/json")
        async with self.http.request(method, self.url + path, data=data, headers=all_headers) as resp:
            text = await resp.text()
            try:
                parsed: Any = json.loads(text) if text else None
            except ValueError:
                parsed = text
            return Reply(resp.status, parsed, resp.headers.copy())

    async def get(self, path: str, user: str | None = None, **kw: Any) -> Reply:
        return await self.call("GET", path, user, **kw)

    async def settings(self, user: str) -> tuple[dict[str, Any], str]:
        reply = await self.get("/api/settings", user)
        assert reply.status == 200, reply.body
        return reply.body, reply.etag

    async def put_settings(self, user: str, body: Any, etag: str | None, **claims: Any) -> Reply:
        headers = {"If-Match": etag} if etag is not None else {}
        return await self.call("PUT", "/api/settings", user, body=body, headers=headers, **claims)


async def start_tab(database_url: str, entra: FakeIdentity, connector: FakeConnector, http: aiohttp.ClientSession,
                    **overrides: Any) -> tuple[Tab, web.AppRunner]:
    config = test_config(database_url, sso_client_id=CLIENT_ID, sso_openid_url=entra.sso_openid_url,
                         allowed_tenants=frozenset({TENANT}), **overrides)
    _, runner, url = await start_app(config)
    return Tab(url, http, entra, Bot(url, connector.url, http)), runner
