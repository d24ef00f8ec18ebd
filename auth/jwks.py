"""Validates bearer JWTs against keys from an OpenID configuration. Keys are fetched with aiohttp (never blocking
the loop), cached, refreshed in the background, and refetched at most once a minute for an unknown key id."""
from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt

log = logging.getLogger(__name__)
REFRESH_EVERY = 24 * 3600
MIN_REFETCH = 60


class InvalidToken(Exception):
    """The request must be answered 401; the message says why (for logs, not for callers)."""


@dataclass(frozen=True)
class Expectation:
    issuers: tuple[str, ...]
    audiences: tuple[str, ...]
    leeway: int = 300  # the Bot Framework allows five minutes of clock skew


class KeySet:
    def __init__(self, session: aiohttp.ClientSession, openid_config_url: str) -> None:
        self._session = session
        self._url = openid_config_url
        self._keys: dict[str, tuple[Any, list[str]]] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> tuple[Any, list[str]]:
        stale = time.monotonic() - self._fetched_at > REFRESH_EVERY
        if kid not in self._keys or stale:
            await self._refresh(force=stale)
        if kid not in self._keys:
            raise InvalidToken(f"unknown signing key {kid!r}")
        return self._keys[kid]

    async def _refresh(self, force: bool) -> None:
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < MIN_REFETCH:
                return
            try:
                async with self._session.get(self._url) as resp:
                    config = await resp.json(content_type=None)
                async with self._session.get(config["jwks_uri"]) as resp:
                    jwks = await resp.json(content_type=None)
            except (aiohttp.ClientError, KeyError, ValueError, TimeoutError) as exc:
                log.warning("cannot fetch signing keys from %s: %s", self._url, exc)
                if not self._keys:
                    raise InvalidToken("signing keys unavailable") from None
                return
            keys = {}
            for jwk in jwks.get("keys", []):
                try:
                    keys[jwk["kid"]] = (jwt.PyJWK.from_json(json.dumps(jwk)).key, list(jwk.get("endorsements", [])))
                except (KeyError, jwt.PyJWKError):
                    continue
            self._keys, self._fetched_at = keys, time.monotonic()

    async def validate(self, authorization: str | None, expect: Expectation,
                       endorsement: str | None = None) -> dict[str, Any]:
        """Return the claims of a valid `Bearer` token, else raise InvalidToken."""
        if not authorization or not authorization.startswith("Bearer "):
            raise InvalidToken("no bearer token")
        token = authorization[len("Bearer "):].strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"malformed token: {exc}") from None
        key, endorsements = await self.key(str(header.get("kid", "")))
        if endorsement and endorsements and endorsement not in endorsements:
            raise InvalidToken(f"key not endorsed for channel {endorsement!r}")
        try:
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256", "RS384", "RS512"], audience=list(expect.audiences),
                leeway=expect.leeway, options={"require": ["exp", "iss", "aud"]})
        except jwt.PyJWTError as exc:
            raise InvalidToken(str(exc)) from None
        if claims.get("iss") not in expect.issuers:
            raise InvalidToken(f"issuer {claims.get('iss')!r} not trusted")
        return claims


def any_of(values: Iterable[str | None]) -> tuple[str, ...]:
    return tuple(v for v in values if v)
