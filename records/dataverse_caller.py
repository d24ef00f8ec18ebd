"""Acting as the agent: the service's Dataverse connection with the `CallerObjectId` header (the agent's Entra
object id), so Dataverse applies the agent's security roles, record access and field-level security, and writes
show the agent as "modified by" (the service as "modified on behalf by").

The application user needs prvActOnBehalfOfAnotherUser (the Delegate role); `delegate_problem` checks it at start.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from domain.ports import GatewayError, ImpersonationRefused
from records.dataverse_http import DataverseClient, Response

log = logging.getLogger(__name__)
DELEGATE_PRIVILEGE = "prvActOnBehalfOfAnotherUser"
CALLER_HEADER = "CallerObjectId"


class CallerClient:
    """A DataverseClient's get/send, made as another user. Shares the client's session, token and limits."""

    def __init__(self, client: DataverseClient, aad_object_id: str) -> None:
        self._client = client
        self.caller = aad_object_id

    async def get(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        resp = await self.send("GET", path, params)
        return None if resp.status == 404 else resp.body

    async def send(self, method: str, path: str, params: Mapping[str, str] | None = None,
                   body: Any = None, headers: Mapping[str, str] | None = None) -> Response:
        try:
            resp = await self._client.send(method, path, params, body, {**(headers or {}),
                                                                        CALLER_HEADER: self.caller})
        except GatewayError as exc:
            raise _refusal(exc) or exc from None
        if resp.status == 404 and _names_caller(resp.body):
            # Dataverse could not find the impersonated user: not "no such record".
            raise ImpersonationRefused("Dataverse doesn't know you as a user (your Microsoft Entra account has "
                                       "no enabled Dataverse user), so I can't read or change records for you.")
        return resp


def _names_caller(body: Any) -> bool:
    message = str((body or {}).get("error", {}).get("message", "")) if isinstance(body, dict) else ""
    return "systemuser" in message.lower() and ("azureactivedirectoryobjectid" in message.lower()
                                                or CALLER_HEADER.lower() in message.lower())


def _refusal(exc: GatewayError) -> ImpersonationRefused | None:
    text = str(exc)
    if DELEGATE_PRIVILEGE.lower() in text.lower():
        return ImpersonationRefused("The connected-chats service may not act on behalf of users in Dataverse: "
                                    f"its application user needs the {DELEGATE_PRIVILEGE} privilege (Delegate "
                                    "role). Ask your administrator.")
    return None


async def delegate_problem(client: DataverseClient) -> str | None:
    """None when the service's application user may impersonate; otherwise a warning for the log and admins."""
    try:
        who = await client.get("WhoAmI()")
        uid = str((who or {}).get("UserId") or "")
        if not uid:
            return "Dataverse did not say who the service is (WhoAmI); impersonation could not be checked."
        body = await client.get(f"systemusers({uid})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()")
    except GatewayError as exc:
        return f"Could not check the service's Dataverse privileges: {exc}"
    names = {str(p.get("PrivilegeName")) for p in (body or {}).get("RolePrivileges") or []}
    if DELEGATE_PRIVILEGE in names:
        return None
    return (f"The Dataverse application user lacks {DELEGATE_PRIVILEGE} (add the Delegate security role): "
            "agents will be refused when they read cards, search or use `set`, because the service reads and "
            "writes records as the agent (CallerObjectId).")
