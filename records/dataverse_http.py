"""A small Dataverse Web API (v9.2) client: token, OData headers, service-protection retries, readable errors.

Dataverse answers 429 with Retry-After when a user passes the service protection limits (6000 requests,
1200 s of execution time or 52 concurrent requests per 5 minutes); we wait as told, a bounded number of times,
and cap our own concurrency well below 52.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

import telemetry
from domain.ports import GatewayError

log = logging.getLogger(__name__)

API_PATH = "/api/data/v9.2/"
TokenSource = Callable[[], Awaitable[str | None]]
THROTTLED = 429
TRANSIENT = frozenset({502, 503, 504})
ANNOTATIONS = 'odata.include-annotations="*"'


class DataverseError(GatewayError):
    """Dataverse refused or failed a request; the message is safe to show to a user."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass
class Response:
    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


class AzureToken:
    """An Entra ID token for `<org>/.default` from azure-identity, cached until shortly before it expires.

    The credential comes from auth.azure_credential; without one, AZURE_* environment credentials only (a
    managed identity is never probed unless configured).
    """

    REFRESH_MARGIN = 300.0

    def __init__(self, org_url: str, credential: Any = None) -> None:
        self.scope = org_url.rstrip("/") + "/.default"
        self._credential = credential
        self._owned = credential is None  # a credential given to us is closed by its owner
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def __call__(self) -> str:
        async with self._lock:
            if self._token is None or time.time() >= self._expires - self.REFRESH_MARGIN:
                if self._credential is None:
                    from auth.azure_credential import CloudCredential, build
                    self._credential = build(CloudCredential.ENVIRONMENT)
                token = await self._credential.get_token(self.scope)
                self._token, self._expires = token.token, float(token.expires_on)
            return self._token

    def invalidate(self) -> None:
        self._token = None

    async def close(self) -> None:
        if self._owned and self._credential is not None and hasattr(self._credential, "close"):
            await self._credential.close()


class DataverseClient:
    """Sends Web API requests relative to `<org>/api/data/v9.2/`."""

    def __init__(self, org_url: str, token: TokenSource | None = None, *, max_attempts: int = 4,
                 max_wait: float = 60.0, concurrency: int = 16, timeout: float = 30.0) -> None:
        self.base = org_url.rstrip("/") + API_PATH
        self.token_source = token
        self._max_attempts = max(1, max_attempts)
        self._max_wait = max_wait
        self._limit = asyncio.Semaphore(concurrency)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
        closer = getattr(self.token_source, "close", None)
        if closer is not None:
            await closer()

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        """GET and return the JSON body, or None when Dataverse answers 404."""
        resp = await self.send("GET", path, params)
        return None if resp.status == 404 else resp.body

    async def get_all(self, path: str, params: Mapping[str, str], page_size: int = 500,
                      max_pages: int = 100) -> list[dict[str, Any]]:
        """Every row of a collection, following server-driven paging (Prefer odata.maxpagesize, then each
        @odata.nextLink as given, sent to the configured organisation with our token). Stops after `max_pages`
        so a misbehaving server cannot keep us reading."""
        rows: list[dict[str, Any]] = []
        link: str | None = None
        prefer = {"Prefer": f"{ANNOTATIONS},odata.maxpagesize={page_size}"}
        for _ in range(max_pages):
            resp = await self.send("GET", link or path, None if link else params, headers=prefer)
            body = resp.body if isinstance(resp.body, dict) and resp.status != 404 else {}
            rows += [r for r in body.get("value") or [] if isinstance(r, dict)]
            link = relative_link(body.get("@odata.nextLink"))
            if link is None:
                break
        return rows

    async def send(self, method: str, path: str, params: Mapping[str, str] | None = None,
                   body: Any = None, headers: Mapping[str, str] | None = None) -> Response:
        """Send with retries; 404 comes back as a Response, other failures raise DataverseError."""
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = await self._once(method, path, params, body, headers)
            except (TimeoutError, aiohttp.ClientError) as exc:
                if method != "GET" or attempt >= self._max_attempts:
                    raise DataverseError(503, f"Dataverse could not be reached ({exc.__class__.__name__}).") from exc
                await asyncio.sleep(self._backoff(attempt))
                continue
            if resp.status == 401 and not refreshed and hasattr(self.token_source, "invalidate"):
                self.token_source.invalidate()  # type: ignore[union-attr]
                refreshed = True
                attempt -= 1
                continue
            if resp.status == THROTTLED:
                telemetry.cloud_throttled("dataverse", resp.status)
            if self._retryable(method, resp.status):
                wait = self._wait(resp, attempt)
                if attempt >= self._max_attempts or wait > self._max_wait:
                    raise DataverseError(resp.status, "Dataverse is busy right now (service protection limit); "
                                                      "please try again in a minute.", "throttled")
                log.info("Dataverse answered %s to %s %s; retrying in %.2f s", resp.status, method, path, wait)
                await asyncio.sleep(wait)
                continue
            if resp.status == 404 or resp.status < 400:
                return resp
            raise _error(resp)

    async def _once(self, method: str, path: str, params: Mapping[str, str] | None, body: Any,
                    extra: Mapping[str, str] | None) -> Response:
        headers = {"Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
                   "Prefer": ANNOTATIONS}
        if self.token_source is not None:
            token = await self.token_source()
            if token:
                headers["Authorization"] = f"Bearer {token}"
        headers.update(extra or {})
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        async with self._limit, self._session.request(method, self.base + path, params=params,
                                                      json=body,
                                                      headers=headers) as raw:
            text = await raw.text()
            parsed: Any = None
            if text and "json" in raw.headers.get("Content-Type", ""):
                try:
                    parsed = await raw.json(content_type=None)
                except ValueError:
                    parsed = None
            return Response(raw.status, parsed, dict(raw.headers))

    @staticmethod
    def _retryable(method: str, status: int) -> bool:
        # A 429 was never executed; a 5xx on POST might have been, so only idempotent calls repeat it.
        return status == THROTTLED or (status in TRANSIENT and method in ("GET", "PATCH", "DELETE"))

    def _wait(self, resp: Response, attempt: int) -> float:
        value = resp.headers.get("Retry-After", "")
        try:
            return max(0.0, float(value))
        except ValueError:
            return self._backoff(attempt)

    @staticmethod
    def _backoff(attempt: int) -> float:
        return min(8.0, 0.5 * 2 ** (attempt - 1))


def _error(resp: Response) -> DataverseError:
    error = resp.body.get("error", {}) if isinstance(resp.body, dict) else {}
    message = str(error.get("message") or "").strip()
    code = str(error.get("code") or "")
    if resp.status in (401, 403):
        text = f"Dataverse refused access ({resp.status})" + (f": {message}" if message else ".")
    else:
        text = f"Dataverse could not do this ({resp.status})" + (f": {message}" if message else ".")
    return DataverseError(resp.status, text, code)


def relative_link(link: Any) -> str | None:
    """An @odata.nextLink after /api/data/v9.2/, so it is sent to the configured organisation with our token."""
    if not isinstance(link, str) or API_PATH not in link:
        return None
    return link.split(API_PATH, 1)[1]


def odata_string(value: str) -> str:
    """A string literal for $filter and keys: single quotes doubled, as OData requires."""
    return "'" + value.replace("'", "''") + "'"
