"""The Prometheus scrape endpoint: GET /metrics on its own port (METRICS_PORT), or on the service's port behind
`Authorization: Bearer <METRICS_TOKEN>`."""
from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from telemetry.setup import Handle

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


async def _exposition(handle: Handle) -> web.Response:
    from prometheus_client import generate_latest

    body = await asyncio.to_thread(generate_latest, handle.registry)  # collection runs metric callbacks
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


def behind_token(handle: Handle, token: str) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    expected = f"Bearer {token}".encode()

    async def metrics(request: web.Request) -> web.StreamResponse:
        given = request.headers.get("Authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            return web.json_response({"error": "a metrics token is required"}, status=401)
        return await _exposition(handle)
    return metrics


async def serve(handle: Handle, host: str, port: int) -> web.AppRunner:
    """A separate listener with /metrics only; clean the runner up to stop it."""
    async def metrics(request: web.Request) -> web.StreamResponse:
        return await _exposition(handle)

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
