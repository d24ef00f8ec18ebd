"""The org's agent experience profiles in Dataverse: app profile records (table msdyn_appconfiguration, entity set
msdyn_appconfigurations, from the App profile manager solution) and the users assigned to them, the N:N
relationship msdyn_appconfiguration_systemuser (its navigation property has that name on both tables).

Read with the service identity (the application user needs read on App profile). A user's profiles are read live
per user, `systemusers(<id>)/msdyn_appconfiguration_systemuser`, and kept for `ttl` seconds, so a change of
assignment in the Customer Service admin center applies within that time; nothing is copied into the settings."""
from __future__ import annotations

from domain.profiles import OrgProfile
from records.dataverse_http import DataverseClient
from records.dataverse_meta import TtlCache
from records.dataverse_rows import guid

PROFILES = "msdyn_appconfigurations"
USERS_OF_PROFILE = "msdyn_appconfiguration_systemuser"
PROFILE_SELECT = "msdyn_appconfigurationid,msdyn_name,msdyn_uniquename,msdyn_appmoduleuniquename"
ACTIVE = "statecode eq 0"  # an inactive profile applies to nobody


class AppProfiles:
    def __init__(self, client: DataverseClient, ttl: float) -> None:
        self._client = client
        self._cache = TtlCache(ttl)

    async def all(self) -> list[OrgProfile]:
        """Active profiles by name (one short-lived read serves every settings page opened meanwhile)."""
        async def load() -> list[OrgProfile]:
            rows = await self._client.get_all(PROFILES, {"$select": PROFILE_SELECT, "$filter": ACTIVE,
                                                         "$orderby": "msdyn_name"})
            return [OrgProfile(str(r["msdyn_appconfigurationid"]).lower(), str(r.get("msdyn_name") or ""),
                               str(r.get("msdyn_uniquename") or ""), str(r.get("msdyn_appmoduleuniquename") or ""))
                    for r in rows if r.get("msdyn_appconfigurationid")]

        profiles: list[OrgProfile] = await self._cache.get("all", load)
        return profiles

    async def of_user(self, user_id: str) -> frozenset[str]:
        """Ids of the active profiles the user is assigned to, through the N:N navigation property."""
        uid = guid(user_id)
        if uid is None:
            return frozenset()

        async def load() -> frozenset[str]:
            rows = await self._client.get_all(f"systemusers({uid})/{USERS_OF_PROFILE}", {
                "$select": "msdyn_appconfigurationid", "$filter": ACTIVE})
            return frozenset(str(r["msdyn_appconfigurationid"]).lower() for r in rows
                             if r.get("msdyn_appconfigurationid"))

        assigned: frozenset[str] = await self._cache.get(("user", uid), load)
        return assigned
