"""One fake OpenID provider on 127.0.0.1 for both token checks the service makes, signed with RSA keys generated
here: the Bot Framework's (OpenID configuration, JWKS with endorsements, the bot's client-credentials token endpoint)
and Microsoft Entra ID's "common" v2.0 endpoint for the tab's single sign-on (tokens shaped like the ones Teams'
getAuthToken() returns).

    async with FakeIdentity() as idp:     # or: idp = await FakeIdentity().start(); ...; await idp.stop()
        idp.openid_url                    # Bot Framework: TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL
        idp.token_url                     # Bot Framework: TO_CHANNEL_FROM_BOT_LOGIN_URL
        idp.sign({...})                   # any claims, signed with the published key
        idp.sso_openid_url                # Entra ID: SSO_OPENID_CONFIG_URL
        idp.token(oid=PATTI)              # a valid v2.0 token for the tab API
        idp.token(oid=PATTI, exp=-60)     # expired a minute ago (seconds relative to now)
        idp.token(oid=PATTI, rogue=True)  # signed by a key that is not published
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


class FakeIdentity:
    def __init__(self, endorsements: list[str] | None = None) -> None:
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.rogue = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = uuid.uuid4().hex
        self.endorsements = endorsements if endorsements is not None else ["msteams"]
        self.token_requests: list[dict[str, str]] = []
        self.key_fetches = 0  # of the Entra ID keys
        self.bf_key_fetches = 0  # of the Bot Framework keys
        self.keys_fail: int | None = None  # answer the Bot Framework JWKS with this HTTP status and an error body
        self.published: dict[str, tuple[rsa.RSAPrivateKey, list[str] | None]] = {}
        self.url = ""
        self._runner: web.AppRunner | None = None

    @property
    def openid_url(self) -> str:
        return f"{self.url}/.well-known/openid-configuration"

    @property
    def token_url(self) -> str:
        return f"{self.url}/oauth2/v2.0/token"

    @property
    def sso_openid_url(self) -> str:
        return f"{self.url}/common/v2.0/.well-known/openid-configuration"

    def _jwk(self, **extra: Any) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update(kid=self.kid, use="sig", **extra)
        return dict(jwk)

    # -- Bot Framework -------------------------------------------------------------------------------------------

    def publish(self, endorsements: list[str] | None = None) -> str:
        """Publish one more Bot Framework signing key (a rotation; None: a key without endorsements); its kid."""
        kid = uuid.uuid4().hex
        self.published[kid] = (rsa.generate_private_key(public_exponent=65537, key_size=2048), endorsements)
        return kid

    def sign(self, claims: dict[str, Any], lifetime: int = 3600, kid: str | None = None,
             not_before: int = 0) -> str:
        """`lifetime` and `not_before`: seconds from now (negative: in the past)."""
        now = int(time.time())
        body = {"iat": now, "nbf": now + not_before, "exp": now + lifetime, **claims}
        key = self.published[kid][0] if kid in self.published else self.key
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid or self.kid})

    async def _bf_config(self, request: web.Request) -> web.Response:
        return web.json_response({"issuer": "https://api.botframework.com", "jwks_uri": f"{self.url}/keys"})

    async def _bf_keys(self, request: web.Request) -> web.Response:
        self.bf_key_fetches += 1
        if self.keys_fail is not None:  # as a failing front end: an error status with a JSON error body
            return web.json_response({"error": {"code": "ServiceUnavailable"}}, status=self.keys_fail)
        keys = [self._jwk(endorsements=self.endorsements)]
        for kid, (key, endorsements) in self.published.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            jwk.update(kid=kid, use="sig")
            if endorsements is not None:
                jwk["endorsements"] = endorsements
            keys.append(jwk)
        return web.json_response({"keys": keys})

    async def _token(self, request: web.Request) -> web.Response:
        self.token_requests.append(dict(await request.post()))  # type: ignore[arg-type]
        return web.json_response({"access_token": f"outgoing-{len(self.token_requests)}", "expires_in": 3600,
                                  "token_type": "Bearer"})

    # -- Entra ID (tab single sign-on) ---------------------------------------------------------------------------

    async def _entra_config(self, request: web.Request) -> web.Response:
        # As Entra's "common" endpoint: the issuer has a {tenantid} placeholder.
        return web.json_response({
            "issuer": "https://login.microsoftonline.com/{tenantid}/v2.0",
            "jwks_uri": f"{self.url}/common/discovery/v2.0/keys",
            "id_token_signing_alg_values_supported": ["RS256"]})

    async def _entra_keys(self, request: web.Request) -> web.Response:
        self.key_fetches += 1
        return web.json_response({"keys": [self._jwk(alg="RS256")]})

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

    # -- lifetime ------------------------------------------------------------------------------------------------

    async def start(self) -> FakeIdentity:
        app = web.Application()
        app.add_routes([web.get("/.well-known/openid-configuration", self._bf_config),
                        web.get("/keys", self._bf_keys), web.post("/oauth2/v2.0/token", self._token),
                        web.get("/common/v2.0/.well-known/openid-configuration", self._entra_config),
                        web.get("/common/discovery/v2.0/keys", self._entra_keys)])
        self._runner, self.url = await serve(app)
        return self

    async def __aenter__(self) -> FakeIdentity:
        return await self.start()

    async def stop(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    __aexit__ = stop


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
