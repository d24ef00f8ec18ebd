"""Starts an aiohttp app on 127.0.0.1 at a free port: every fake Microsoft service and the app under test use it."""
from __future__ import annotations

from aiohttp import web


async def serve(app: web.Application) -> tuple[web.AppRunner, str]:
    """Return the runner (clean it up to stop) and the base URL, without a trailing slash."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"
