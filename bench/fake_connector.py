"""A minimal, fast fake Bot Connector: accepts replies and proactive sends, counts them, serves GET /stats.

GET /last returns the last activity posted (as received).

Speaks the Bot Connector REST shape (v3/conversations/...) answering 200 {"id": ...}; it never parses
bodies, so its own CPU stays small next to the target's on a 2-core machine.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable

from aiohttp import web

_STATS: web.AppKey[dict[str, int]] = web.AppKey("stats")
_LAST: web.AppKey[list[bytes]] = web.AppKey("last")


def _counter(key: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        # Reading drains the body so keep-alive connections stay usable; keeping a reference costs nothing.
        request.app[_LAST][0] = await request.read()
        stats = request.app[_STATS]
        stats[key] += 1
        return web.json_response({"id": f"fc-{key}-{stats[key]}"})

    return handle


async def _create_conversation(request: web.Request) -> web.Response:
    await request.read()
    stats = request.app[_STATS]
    stats["conversations_created"] += 1
    return web.json_response({"id": f"19:fc-{stats['conversations_created']}@thread.v2", "activityId": "fc-0"})


async def _stats(request: web.Request) -> web.Response:
    stats = request.app[_STATS]
    total = stats["to_conversation"] + stats["reply_to"]
    return web.json_response({**stats, "activities": total})


async def _last(request: web.Request) -> web.Response:
    """The last activity posted, as received, so a run can show what a target actually replied."""
    return web.Response(body=request.app[_LAST][0], content_type="application/json")


async def _healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


async def _unmatched(request: web.Request) -> web.Response:
    # Counted so a target calling an endpoint this fake lacks shows up in the stats instead of silently failing.
    await request.read()
    request.app[_STATS]["unmatched"] += 1
    error = {"code": "NotFound", "message": f"fake connector: no {request.path}"}
    return web.json_response({"error": error}, status=404)


def make_app() -> web.Application:
    app = web.Application()
    app[_STATS] = {"to_conversation": 0, "reply_to": 0, "updated": 0, "conversations_created": 0, "unmatched": 0}
    conv = "/v3/conversations/{conversation_id}/activities"
    app.router.add_post(conv, _counter("to_conversation"))
    app.router.add_post(conv + "/{activity_id}", _counter("reply_to"))
    app.router.add_put(conv + "/{activity_id}", _counter("updated"))
    app.router.add_post("/v3/conversations", _create_conversation)
    app[_LAST] = [b"null"]
    app.router.add_get("/stats", _stats)
    app.router.add_get("/last", _last)
    app.router.add_get("/healthz", _healthz)
    app.router.add_route("*", "/{tail:.*}", _unmatched)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=3979)
    args = parser.parse_args()
    web.run_app(make_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
