"""GET /api/disconnect-grant: where "can disconnect any chat" comes from, for the settings page (one rule).

Local directory: the page's role list is the only role grant. Dataverse: the Disconnect Teams chat privilege in
security roles, as in Dynamics 365; the page lists the roles that hold it, read-only."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain import rules
from domain.model import RoleGrant
from domain.ports import GatewayError
from domain.service import ChatService
from tabs.context import TabsContext
from tabs.http import endpoint
from tabs.sso import Principal

CRM_HOW = ("Who can disconnect any chat is set by the Disconnect Teams chat privilege (prvDisconnectTeamsChat) "
           "in Dataverse security roles, as in Dynamics 365. To change it, edit the security roles in the Power "
           "Platform admin center (Environments > your environment > Settings > Users + permissions > Security "
           "roles). The roles listed here hold it now.")
SETTINGS_HOW = ("People with the roles ticked here can disconnect any connected chat, whatever the record type. "
                "Unticking a role revokes it: nothing else grants this.")


async def disconnect_grant(service: ChatService) -> dict[str, Any]:
    grant = service.records.role_grant
    if grant is RoleGrant.CRM:
        try:
            roles = list(await service.records.roles_with_privilege(rules.DISCONNECT_PRIVILEGE))
            error = ""
        except GatewayError as exc:  # the page still opens; it says why the list is missing
            roles, error = [], f"The roles holding the privilege could not be read from Dataverse: {exc}"
        return {"source": grant.value, "editable": False, "roles": roles, "how": CRM_HOW, "error": error}
    settings, _ = await service.load_settings()
    return {"source": grant.value, "editable": True, "roles": list(settings.disconnect_roles),
            "how": SETTINGS_HOW, "error": ""}


@endpoint()
async def get_disconnect_grant(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    return web.json_response(await disconnect_grant(tabs.service))


def routes(app: web.Application) -> None:
    app.router.add_get("/api/disconnect-grant", get_disconnect_grant)
