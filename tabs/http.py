"""Shared plumbing of the tab endpoints: the caller, JSON errors that name a field, and query parsing."""
from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from domain.results import Refusal
from tabs.context import TABS, TabsContext
from tabs.sso import AuthError, Principal

log = logging.getLogger(__name__)
Handler = Callable[[web.Request, TabsContext, Principal], Awaitable[web.StreamResponse]]
MAX_BODY = 256 * 1024


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.field, self.headers, self.extra = status, field, headers or {}, extra or {}


def error(status: int, message: str, field: str | None = None,
          headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"error": message, **(extra or {})}
    if field:
        body["field"] = field
    return web.json_response(body, status=status, headers={"Cache-Control": "no-store", **(headers or {})})


def endpoint(admin: bool = False) -> Callable[[Handler], Callable[[web.Request], Awaitable[web.StreamResponse]]]:
    """Authenticate (401/403), then run; refusals and bad input become 4xx with a message, never a 500."""
    def wrap(handler: Handler) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        @functools.wraps(handler)
        async def run(request: web.Request) -> web.StreamResponse:
            tabs = request.app[TABS]
            try:
                principal = await tabs.auth.principal(request)
                if admin and not principal.admin:
                    raise ApiError(403, "only administrators (System Administrator in the CRM, or a Microsoft "
                                        "Entra global administrator) can do this")
                response = await handler(request, tabs, principal)
            except AuthError as exc:
                return error(exc.status, str(exc), headers={"WWW-Authenticate": 'Bearer realm="connected-chats"'}
                             if exc.status == 401 else None)
            except ApiError as exc:
                return error(exc.status, str(exc), exc.field, exc.headers, exc.extra)
            except Refusal as exc:
                return error(403, str(exc))
            response.headers.setdefault("Cache-Control", "no-store")
            return response
        return run
    return wrap


async def json_body(request: web.Request) -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        raw = await request.content.read(MAX_BODY + 1)
    except (ValueError, OSError):
        raise ApiError(400, "the body could not be read") from None
    if len(raw) > MAX_BODY:
        raise ApiError(413, f"the body is larger than {MAX_BODY} bytes")
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the body is not valid JSON") from None


def query_text(request: web.Request, name: str, max_len: int = 200) -> str:
    value = request.query.get(name, "").strip()
    if len(value) > max_len:
        raise ApiError(400, f"{name} is longer than {max_len} characters", name)
    return value


def app_of(request: web.Request) -> str | None:
    """The CRM app the tab is embedded in (?app=), or None when the caller did not say."""
    return query_text(request, "app") or None
