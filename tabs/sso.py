"""Who is calling the tab API: a Teams single sign-on (Entra ID) bearer token -> a Principal.

The token is the one `microsoftTeams.authentication.getAuthToken()` returns for the tab's Entra app. Checked:
signature (keys from SSO_OPENID_CONFIG_URL, cached by auth.jwks.KeySet), audience (the App ID URI
`api://<host>/<client id>` or the bare client id, as v1 and v2 tokens carry them), issuer (the token's own
tenant, v2.0 or v1 form), expiry, and the tenant against ALLOWED_TENANT_IDS."""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import jwt
from aiohttp import web

import telemetry
from auth.jwks import Expectation, InvalidToken, KeySet, any_of
from config import Config
from domain import rules
from domain.model import User
from domain.ports import RecordSource

log = logging.getLogger(__name__)
GLOBAL_ADMIN = "62e90394-69f5-4237-9190-012177145e10"  # Entra's built-in Global Administrator role template id
ADMIN_PRIVILEGE = "administerTeamsChat"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
LEEWAY = 120


class AuthError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Principal:
    tenant_id: str
    aad_object_id: str
    name: str
    user: User | None
    admin: bool
    global_admin: bool
    dev: bool = False

    def public(self) -> dict[str, Any]:
        return {"name": self.name, "tenantId": self.tenant_id, "userId": self.user.id if self.user else None,
                "admin": self.admin, "globalAdmin": self.global_admin, "dev": self.dev}


def dev_admin_active(config: Config) -> bool:
    """DEV_LOCAL_ADMIN counts only in local mode, never once a bot app id is configured."""
    return config.dev_admin and config.local_mode


class Authenticator:
    def __init__(self, config: Config, session: aiohttp.ClientSession, records: RecordSource) -> None:
        self._config = config
        self._records = records
        self._audiences = any_of((config.sso_expected_audience, config.sso_client_id))
        self._keys = KeySet(session, config.sso_openid_url) if self._audiences else None
        self.dev = dev_admin_active(config)
        if self.dev:
            log.warning("DEV_LOCAL_ADMIN=1 in local mode: requests WITHOUT a token act as an administrator of the "
                        "settings page. Never use this on a reachable server.")
        elif config.dev_admin:
            log.warning("DEV_LOCAL_ADMIN is ignored because MicrosoftAppId is set (not local mode)")
        if self._keys is None and not self.dev:
            log.warning("SSO_CLIENT_ID is empty: the tab API refuses every request until it is set")

    async def principal(self, request: web.Request) -> Principal:
        authorization = request.headers.get("Authorization")
        if not authorization and self.dev:
            return Principal("", "", "Local administrator (DEV_LOCAL_ADMIN)", None, True, True, dev=True)
        if self._keys is None:
            raise AuthError(401, "single sign-on is not configured on this server (set SSO_CLIENT_ID)")
        claims = await self._claims(authorization)
        return await self._principal(claims)

    async def _claims(self, authorization: str | None) -> dict[str, Any]:
        assert self._keys is not None
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError(401, "sign in: send the Teams single sign-on token as 'Authorization: Bearer <token>'")
        tenant = _unverified_tenant(authorization[len("Bearer "):].strip())
        if self._config.allowed_tenants and tenant not in self._config.allowed_tenants:
            raise AuthError(401, "your organization is not allowed to use this service")
        issuers = (f"https://login.microsoftonline.com/{tenant}/v2.0", f"https://sts.windows.net/{tenant}/")
        try:
            claims = await self._keys.validate(authorization, Expectation(issuers, self._audiences, LEEWAY))
        except InvalidToken as exc:
            log.info("tab token refused: %s", exc.reason)  # the reason only: details quote the sender's token
            telemetry.token_refused(exc.reason)
            raise AuthError(401, "your sign-in token is not valid here; sign in again") from None
        if str(claims.get("tid", "")).lower() != tenant or not isinstance(claims.get("oid"), str):
            raise AuthError(401, "the sign-in token has no user or tenant")
        return claims

    async def _principal(self, claims: dict[str, Any]) -> Principal:
        oid = str(claims["oid"]).lower()
        tenant = str(claims["tid"]).lower()
        global_admin = GLOBAL_ADMIN in (claims.get("wids") or [])
        user = await self._records.user_by_aad(oid)
        if user is not None and user.disabled:
            user = None
        if user is None and not global_admin:
            raise AuthError(403, "you are not a user of the CRM (or your account is disabled); ask your "
                                 "administrator to add your Microsoft Entra object id")
        admin = global_admin or (user is not None and (
            rules.ADMIN_ROLE in user.roles or ADMIN_PRIVILEGE in await self._records.privileges(user)))
        name = user.name if user else str(claims.get("name") or claims.get("preferred_username") or oid)
        return Principal(tenant, oid, name, user, admin, global_admin)


def _unverified_tenant(token: str) -> str:
    # Read the tenant before the signature check only to know which issuer to expect; the check that
    # follows verifies the same claim under the signature.
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise AuthError(401, "your sign-in token is malformed") from None
    tenant = str(claims.get("tid", "")).lower()
    if not _GUID.match(tenant):
        raise AuthError(401, "the sign-in token names no tenant")
    return tenant
