"""Graph over plain HTTP: one aiohttp session, JSON in and out, an Entra token from azure-identity, and retries of
429/503/504 honouring Retry-After within the caller's time budget (graph.policy.budget).

The service calls eight Graph endpoints with small JSON bodies. msgraph-sdk's request builders and ~1000 model
classes cost 55 MB resident and 1.1-1.4 s to load (or to warm up at start); these calls need none of them."""
from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import aiohttp

import telemetry
from graph import policy
from teams import wirejson

RETRIED = frozenset({429, 503, 504})
BACKOFF = 0.5  # seconds before the first retry without Retry-After (then doubling, plus up to 1 s of jitter)
MAX_WAIT = 180.0  # a Retry-After beyond this is never slept through


class GraphResponseError(Exception):
    """Graph answered an error status (after any retries); the gateway words it for the user."""

    def __init__(self, status: int, headers: Any) -> None:
        super().__init__(f"Graph answered {status}")
        self.status, self.headers = status, headers


class Transport:
    def __init__(self, base_url: str, credential: Any, attempts: int) -> None:
        self.base_url, self.credential, self.attempts = base_url, credential, attempts
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[str, float] | None = None  # token, monotonic time to renew it

    async def open(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30, connect=10))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        # The credential is not closed here: it belongs to whoever made it (app.py closes it).

    async def token(self) -> str | None:
        """A bearer token for Graph (cached until five minutes before it expires); None with GRAPH_AUTH=none."""
        if self.credential is None:
            return None
        if self._token and time.monotonic() < self._token[1]:
            return self._token[0]
        got = await self.credential.get_token(policy.token_scope(self.base_url))
        self._token = (got.token, time.monotonic() + max(0.0, got.expires_on - time.time() - 300))
        return str(got.token)

    async def request(self, method: str, path_or_url: str, *, params: dict[str, str] | None = None,
                      body: Any = None) -> dict[str, Any]:
        """The JSON answer ({} when empty); GraphResponseError for an error status once retries are spent."""
        await self.open()
        assert self._session is not None
        url = path_or_url if path_or_url.startswith(("http://", "https://")) else self.base_url + path_or_url
        data = None if body is None else wirejson.dumps(body)
        for attempt in range(1, self.attempts + 1):
            headers = {"Accept": "application/json"}
            if data is not None:
                headers["Content-Type"] = "application/json"
            if (token := await self.token()) is not None:
                headers["Authorization"] = f"Bearer {token}"
            async with self._session.request(method, url, params=params, data=data, headers=headers) as resp:
                raw = await resp.read()
                if resp.status < 400:
                    parsed = wirejson.loads(raw) if raw else {}
                    return parsed if isinstance(parsed, dict) else {}
                wait = self._retry_wait(method, resp.status, resp.headers, attempt)
                if wait is None:
                    raise GraphResponseError(resp.status, resp.headers)
            await asyncio.sleep(wait)
        raise AssertionError("unreachable: the last attempt raises")

    def _retry_wait(self, method: str, status: int, headers: Any, attempt: int) -> float | None:
        """Seconds to wait before trying again, or None to give up now. A POST that timed out at Graph's front
        door (504) may have happened: creating the chat twice is worse than asking the user to try again."""
        if status in (429, 503):
            telemetry.cloud_throttled("graph", status)
        if status not in RETRIED or attempt >= self.attempts or (status == 504 and method == "POST"):
            return None
        after = policy.retry_after_seconds(headers.get("Retry-After"))
        wait = after if after else BACKOFF * 2 ** (attempt - 1) + random.uniform(0, 1)
        return wait if wait <= MAX_WAIT and policy.wait_fits(wait) else None
