"""Validates bearer JWTs against keys from an OpenID configuration. Keys are fetched with aiohttp (never blocking
the loop), cached, refreshed daily, and refetched at most once per `min_refetch` seconds for an unknown key id.

Like Microsoft's botframework-connector: a failed refresh (network error, non-200 answer, a key set with no usable
key) never replaces the cached keys, and a failed attempt counts against the refetch window like a successful one,
so a stream of random key ids cannot turn into a stream of fetches."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)
REFRESH_EVERY = 24 * 3600
MIN_REFETCH = 60.0
RETRY_EMPTY = 5.0  # with no keys at all there is nothing to protect: retry sooner


class Refusal(StrEnum):
    """Why a token was refused: a fixed vocabulary, safe for logs and metric labels."""
    NO_TOKEN = "no_token"
    MALFORMED = "malformed"
    UNKNOWN_KEY = "unknown_key"
    KEYS_UNAVAILABLE = "keys_unavailable"
    ENDORSEMENT = "endorsement"
    EXPIRED = "expired"
    NOT_YET_VALID = "not_yet_valid"
    AUDIENCE = "audience"
    ISSUER = "issuer"
    SIGNATURE = "signature"
    SERVICE_URL = "service_url"
    INVALID = "invalid"


class InvalidToken(Exception):
    """The request must be answered 401; the message says why (for logs, not for callers)."""

    def __init__(self, message: str, reason: Refusal = Refusal.INVALID) -> None:
        super().__init__(message)
        self.reason = reason


class KeyFetchError(Exception):
    """The OpenID configuration or its key set could not be fetched or held no usable key."""


@dataclass(frozen=True)
class Expectation:
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    leeway: int = 300  # the Bot Framework allows five minutes of clock skew


class KeySet:
    def __init__(self, session: aiohttp.ClientSession, openid_config_url: str,
                 min_refetch: float = MIN_REFETCH) -> None:
        self._session = session
        self._url = openid_config_url
        self._min_refetch = min_refetch
        self._keys: dict[str, tuple[Any, list[str]]] = {}
        self._fetched_at: float | None = None  # last successful fetch (None: never, whatever the host's uptime)
        self._tried_at: float | None = None  # last attempt, successful or not
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Fetch the keys now (at start-up), so the first token does not wait for them; failures only warn."""
        await self._refresh()

    async def key(self, kid: str) -> tuple[Any, list[str]]:
        stale = self._fetched_at is None or time.monotonic() - self._fetched_at > REFRESH_EVERY
        if kid not in self._keys or stale:
            await self._refresh()
        if kid not in self._keys:
            if not self._keys:
                raise InvalidToken("signing keys unavailable", Refusal.KEYS_UNAVAILABLE)
            raise InvalidToken(f"unknown signing key {kid[:64]!r}", Refusal.UNKNOWN_KEY)
        return self._keys[kid]

    async def _refresh(self) -> None:
        async with self._lock:
            now = time.monotonic()
            window = self._min_refetch if self._keys else min(self._min_refetch, RETRY_EMPTY)
            if self._tried_at is not None and now - self._tried_at < window:
                return
            self._tried_at = now
            try:
                keys = await self._fetch()
            except KeyFetchError as exc:
                log.warning("cannot refresh signing keys from %s (%s); keeping %d cached keys",
                            self._url, exc, len(self._keys))
                return
            self._keys, self._fetched_at = keys, now

    async def _fetch(self) -> dict[str, tuple[Any, list[str]]]:
        config = await self._get_json(self._url)
        jwks_uri = config.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise KeyFetchError("the OpenID configuration has no jwks_uri")
        found = (await self._get_json(jwks_uri)).get("keys")
        keys = {}
        for jwk in found if isinstance(found, list) else []:
            try:
                endorsements = jwk.get("endorsements") or []
                keys[str(jwk["kid"])] = (jwt.PyJWK.from_json(json.dumps(jwk)).key,
                                         [str(e) for e in endorsements] if isinstance(endorsements, list) else [])
            except (KeyError, TypeError, AttributeError, jwt.PyJWKError):
                continue
        if not keys:
            raise KeyFetchError("the key set holds no usable key")
        return keys

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session.get(url) as resp:
                if resp.status != 200:
                    raise KeyFetchError(f"{url} answered HTTP {resp.status}")
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, ValueError, TimeoutError) as exc:
            raise KeyFetchError(f"{url}: {type(exc).__name__}") from None
        if not isinstance(body, dict):
            raise KeyFetchError(f"{url} did not answer a JSON object")
        return body

    async def validate(self, authorization: str | None, expect: Expectation,
                       endorsement: str | None = None) -> dict[str, Any]:
        """Return the claims of a valid `Bearer` token, else raise InvalidToken."""
        if not authorization or not authorization.startswith("Bearer "):
            raise InvalidToken("no bearer token", Refusal.NO_TOKEN)
        token = authorization[len("Bearer "):].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}", Refusal.MALFORMED) from None
        key, endorsements = await self.key(str(header.get("kid", "")))
        # As botframework-connector: a key that carries endorsements must endorse the activity's channel.
        if endorsement and endorsements and endorsement not in endorsements:
            raise InvalidToken(f"key not endorsed for channel {endorsement[:64]!r}", Refusal.ENDORSEMENT)
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256", "RS384", "RS512"], audience=list(expect.audiences),
                leeway=expect.leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc), _reason(exc)) from None
        if claims.get("iss") not in expect.issuers:
            raise InvalidToken(f"issuer {str(claims.get('iss'))[:64]!r} not trusted", Refusal.ISSUER)
        return claims


def _reason(exc: jwt.PyJWTError) -> Refusal:
    for kind, reason in ((jwt.ExpiredSignatureError, Refusal.EXPIRED), (jwt.ImmatureSignatureError,
                         Refusal.NOT_YET_VALID), (jwt.InvalidAudienceError, Refusal.AUDIENCE),
                         (jwt.InvalidIssuerError, Refusal.ISSUER), (jwt.InvalidSignatureError, Refusal.SIGNATURE)):
        if isinstance(exc, kind):
            return reason
    return Refusal.INVALID


def any_of(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
