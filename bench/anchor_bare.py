"""Anchor (a): the bare aiohttp limit for a Teams round trip.

POST /api/messages parses the activity, posts one reply to the Bot Connector with one shared ClientSession,
then answers 200. Invokes are answered inline (200 + invoke response) like Teams expects, with no post.
"""

from __future__ import annotations

import argparse
import json
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

_SESSION = web.AppKey("session", aiohttp.ClientSession)
_INVOKE_OK = {"statusCode": 200, "type": "application/vnd.microsoft.activity.message", "value": "ok"}


def _reply(activity: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "text": f"Echo: {activity.get('text', '')}",
        "from": activity.get("recipient"),
        "recipient": activity.get("from"),
        "conversation": activity.get("conversation"),
        "replyToId": activity.get("id"),
    }


async def messages(request: web.Request) -> web.Response:
    try:
        activity = json.loads(await request.read())
        service_url: str = activity["serviceUrl"]
        conversation_id: str = activity["conversation"]["id"]
        activity_id: str = activity["id"]
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"error": f"not a Bot Framework activity: {exc!r}"}, status=400)
    if activity.get("type") == "invoke":
        return web.json_response(_INVOKE_OK)
    if not service_url.endswith("/"):
        service_url += "/"
    url = f"{service_url}v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
    async with request.app[_SESSION].post(url, json=_reply(activity)) as resp:
        await resp.read()
        if resp.status >= 300:
            return web.json_response({"error": f"connector answered {resp.status}"}, status=502)
    return web.Response(status=200)


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _session_ctx(app: web.Application) -> Any:
    # One pooled session for every turn: the cost botbuilder pays per turn is paid once here.
    app[_SESSION] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=100))
    yield
    await app[_SESSION].close()


def make_app() -> web.Application:
    app = web.Application()
    app.cleanup_ctx.append(_session_ctx)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3978)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
