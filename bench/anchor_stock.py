"""Anchor (b): Microsoft's stock echo bot shape on botbuilder-integration-aiohttp 4.17.1.

CloudAdapter + ConfigurationBotFrameworkAuthentication with an empty app id (no token checks), an
ActivityHandler that echoes the text; everything as the SDK ships it, so it shows the stock ceiling.
"""

from __future__ import annotations

import argparse

from aiohttp import web
from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication


class _Config:
    """The attribute names ConfigurationBotFrameworkAuthentication reads; empty id = local mode."""

    APP_ID = ""
    APP_PASSWORD = ""
    APP_TYPE = "MultiTenant"
    APP_TENANTID = ""


class EchoBot(ActivityHandler):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        await turn_context.send_activity(f"Echo: {turn_context.activity.text}")


_ADAPTER = web.AppKey("adapter", CloudAdapter)
_BOT = web.AppKey("bot", EchoBot)


async def messages(request: web.Request) -> web.StreamResponse:
    return await request.app[_ADAPTER].process(request, request.app[_BOT])


async def healthz(_: web.Request) -> web.Response:
    return web.Response(text="ok")


def make_app() -> web.Application:
    app = web.Application()
    app[_ADAPTER] = CloudAdapter(ConfigurationBotFrameworkAuthentication(_Config()))
    app[_BOT] = EchoBot()
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
