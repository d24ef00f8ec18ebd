"""GET /api/org-profiles: the org's agent experience profiles (Dataverse app profiles) for the settings page, with
the saved on/off of each; and the check a save gets when it picks them.

The profiles and who is assigned to them stay in Dynamics 365 (Customer Service admin center); the settings keep
only which profile ids have Teams chats on or off. When Dataverse cannot be read the page still opens, says why,
and keeps the saved choices (nothing is lost by saving the rest of the page)."""
from __future__ import annotations

from typing import Any

from aiohttp import web

from domain.ports import GatewayError
from domain.profiles import OrgProfile, ProfileSource
from domain.service import ChatService
from domain.settings import Settings
from tabs.context import TabsContext
from tabs.http import ApiError, endpoint
from tabs.sso import Principal

HOW = ("Agent experience profiles and who is assigned to them are managed in the Customer Service admin center "
       "(Agent experience > Workspaces > Agent experience profiles). Here you only turn Teams chats on or off per "
       "profile; a change of assignment there applies here within a minute.")
LOCAL = "The record source has no agent experience profiles of its own (they come from Dataverse)."


async def _read(service: ChatService) -> tuple[list[OrgProfile] | None, str]:
    try:
        found = await service.records.app_profiles()
    except GatewayError as exc:  # the page still opens; it says why the list is missing
        return [], f"The agent experience profiles could not be read from Dataverse: {exc}"
    return (None if found is None else list(found)), ""


async def org_profiles(service: ChatService) -> dict[str, Any]:
    settings, _ = await service.load_settings()
    found, error = await _read(service)
    chosen = settings.org_profiles
    listed = {p.id for p in found or []}
    return {
        "available": found is not None, "source": settings.profile_source, "error": error,
        "how": HOW if found is not None else LOCAL,
        # A profile without a saved choice follows the global switch, so it shows as on.
        "profiles": [{"id": p.id, "name": p.name, "unique_name": p.unique_name, "app": p.app,
                      "enabled": chosen.get(p.id, True), "chosen": p.id in chosen} for p in found or []],
        # Saved choices for profiles Dataverse no longer lists (deleted or deactivated), unless it could not say.
        "missing": [] if error else [i for i in chosen if i not in listed],
    }


async def save_problem(service: ChatService, old: Settings, new: Settings) -> ApiError | None:
    """Picking the org's profiles needs a source that has them; a profile id must be one Dataverse lists (or one
    saved before, so a profile deleted meanwhile never blocks saving the rest). Unverifiable when Dataverse is
    down: the ids are well-formed (settings_rules) and the save goes through."""
    if new.profile_source != ProfileSource.ORG and new.org_profiles == old.org_profiles:
        return None
    found, error = await _read(service)
    if found is None:
        return ApiError(400, LOCAL + " Use the page's own profiles.", "profile_source")
    listed = {p.id for p in found}
    unknown = next((i for i in new.org_profiles if not error and i not in listed and i not in old.org_profiles),
                   None)
    if unknown is not None:
        return ApiError(400, f"Dataverse has no active agent experience profile with id {unknown}",
                        f"org_profiles.{unknown}")
    return None


@endpoint()
async def get_org_profiles(request: web.Request, tabs: TabsContext, who: Principal) -> web.Response:
    return web.json_response(await org_profiles(tabs.service))


def routes(app: web.Application) -> None:
    app.router.add_get("/api/org-profiles", get_org_profiles)
