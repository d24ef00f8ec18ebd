"""Access tokens for calls the service makes (Bot Connector), cached until shortly before they expire."""
from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp

EARLY = 300  # renew five minutes before expiry


class ClientCredentials:
    """OAuth 2.0 client-credentials grant against an Entra ID token endpoint."""

    def __init__(self, session: aiohttp.ClientSession, token_url: str, client_id: str, secret: str,
                 scope: str) -> None:
        self._session, self._url = session, token_url
        self._form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret,
                      "scope": scope}
        self._token: str | None = None
        self._expires = 0.0
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        if self._token and time.monotonic() < self._expires - EARLY:
            return self._token
        async with self._lock:
            if self._token and time.monotonic() < self._expires - EARLY:
                return self._token
            async with self._session.post(self._url, data=self._form) as resp:
                body: dict[str, Any] = await resp.json(content_type=None)
                if resp.status != 200 or "access_token" not in body:
                    raise PermissionError(f"token endpoint answered {resp.status}: {body.get('error', '')}")
            self._token = str(body["access_token"])
            self._expires = time.monotonic() + float(body.get("expires_in", 3600))
            return self._token

    def forget(self) -> None:
        self._token = None


class ManagedIdentityToken:
    """For MicrosoftAppType=UserAssignedMSI: azure-identity's managed identity credential."""

    def __init__(self, client_id: str, scope: str) -> None:
        from azure.identity.aio import ManagedIdentityCredential

        self._cred = ManagedIdentityCredential(client_id=client_id)
        self._scope = scope

    async def token(self) -> str:
        return (await self._cred.get_token(self._scope)).token  # azure-identity caches internally

    def forget(self) -> None:
        """azure-identity refreshes on its own."""
