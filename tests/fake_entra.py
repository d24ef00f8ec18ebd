"""A fake Microsoft Entra ID for the tab's single sign-on: an OpenID configuration and a JWKS on 127.0.0.1,
and tokens shaped like the ones Teams' getAuthToken() returns, signed with RSA keys generated here.

    async with FakeEntra() as entra:
        entra.openid_url                  # SSO_OPENID_CONFIG_URL for the app under test
        entra.token(oid=PATTI)            # a valid v2.0 token for the tab API
        entra.token(exp=-60)              # expired a minute ago (seconds relative to now)
        entra.token(rogue=True)           # signed by a key that is not published
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.servers import serve
from tests.teams import TENANT

CLIENT_ID = "d1b5e3a4-7c2f-4e8a-9b6d-0f1e2a3b4c5d"
PUBLIC_HOST = "cc.example"
APP_ID_URI = f"api://{PUBLIC_HOST}/{CLIENT_ID}"
OTHER_TENANT = "0b3c2d1e-aaaa-4bbb-8ccc-123456789abc"
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"
STRANGER = "99999999-8888-4777-8666-555555555555"  # a real Entra user the CRM does not know


class FakeEntra:
    def __init__(self) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.url = ""
        self.key_fetches = 0
        self._runner: web.AppRunner | None = None

    @property
    def openid_url(self) -> str:
        return f"{self.url}/common/v2.0/.well-known/openid-configuration"

    async def _config(self, request: web.Request) -> web.Response:
        # As Entra's "common" endpoint: the issuer has a {tenantid} placeholder.
        return web.json_response({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "jwks_uri": f"{self.url}/common/discovery/v2.0/keys",
            "id_token_signing_alg_values_supported": ["RS256"]})

    async def _keys(self, request: web.Request) -> web.Response:
        self.key_fetches += 1
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", alg="RS256")
        return web.json_response({"keys": [jwk]})

    async def __aenter__(self) -> FakeEntra:
        app = web.Application()
        app.router.add_get("/common/v2.0/.well-known/openid-configuration", self._config)
        app.router.add_get("/common/discovery/v2.0/keys", self._keys)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    def token(self, oid: str, tid: str = TENANT, aud: str = CLIENT_ID, exp: int = 3600, wids: list[str] | None = None,
              version: str = "2.0", iss: str | None = None, rogue: bool = False, **extra: Any) -> str:
        """A token for the tab API. version 1.0 carries the App ID URI audience and the sts.windows.net issuer."""
        now = int(time.time())
        if iss is None:
            iss = f"https://login.microsoftonline.com/{tid}/v2.0" if version == "2.0" else f"https://sts.windows.net/{tid}/"
        claims: dict[str, Any] = {"aud": aud, "iss": iss, "iat": now - 60, "nbf": now - 60, "exp": now + exp,
                                  "tid": tid, "oid": oid, "scp": "access_as_user", "ver": version,
                                  "name": "Test User", "preferred_username": "someone@contoso.example", **extra}
        if wids is not None:
            claims["wids"] = wids
        key = self.rogue if rogue else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
