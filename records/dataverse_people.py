"""Dataverse users, teams, roles, privileges and record access (systemuser, team, RetrievePrincipalAccess)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain.model import Access, Team, User
from records.dataverse_http import DataverseClient, odata_string
from records.dataverse_meta import TtlCache
from records.dataverse_rows import guid

USER_SELECT = "systemuserid,fullname,internalemailaddress,azureactivedirectoryobjectid,isdisabled"
USER_EXPAND = "systemuserroles_association($select=name),teammembership_association($select=teamid)"
EMAIL_BATCH = 20


def privilege_name(dataverse_name: str) -> str:
    """prvDisconnectTeamsChat -> disconnectTeamsChat: the domain's privilege names drop Dataverse's prefix."""
    name = dataverse_name[3:] if dataverse_name.startswith("prv") else dataverse_name
    return name[:1].lower() + name[1:]


def rights_to_access(rights: str) -> Access:
    granted = {r.strip() for r in rights.split(",")}
    if "WriteAccess" in granted:
        return "write"
    return "read" if "ReadAccess" in granted else "none"


class People:
    def __init__(self, client: DataverseClient, ttl: float) -> None:
        self._client = client
        self._users = TtlCache(ttl)
        self._teams = TtlCache(ttl)
        self._privileges = TtlCache(ttl)

    async def user_by_aad(self, aad_object_id: str) -> User | None:
        oid = guid(aad_object_id)
        if oid is None:
            return None

        async def load() -> User | None:
            body = await self._client.get("systemusers", {
                "$select": USER_SELECT, "$filter": f"azureactivedirectoryobjectid eq {oid}",
                "$expand": USER_EXPAND})
            rows = (body or {}).get("value") or []
            return await self._user(rows[0]) if rows else None

        user: User | None = await self._users.get(("aad", oid), load)
        return user

    async def user(self, user_id: str) -> User | None:
        uid = guid(user_id)
        if uid is None:
            return None

        async def load() -> User | None:
            row = await self._client.get(f"systemusers({uid})", {"$select": USER_SELECT, "$expand": USER_EXPAND})
            return await self._user(row) if row else None

        user: User | None = await self._users.get(("id", uid), load)
        return user

    async def users_by_email(self, emails: Sequence[str]) -> Sequence[User]:
        wanted = [e.strip() for e in emails if e and e.strip()]
        found: dict[str, User] = {}
        for start in range(0, len(wanted), EMAIL_BATCH):
            batch = wanted[start:start + EMAIL_BATCH]
            condition = " or ".join(f"internalemailaddress eq {odata_string(e)}" for e in batch)
            body = await self._client.get("systemusers", {"$select": USER_SELECT, "$filter": condition,
                                                          "$expand": USER_EXPAND})
            for row in (body or {}).get("value") or []:
                user = await self._user(row)
                found.setdefault(user.email.lower(), user)
        return [u for e in wanted if (u := found.get(e.lower()))]

    async def search(self, text: str, limit: int) -> list[User]:
        """Enabled users by part of their full name or email (contains(), as the Web API documents it)."""
        wanted = text.strip()
        if not wanted:
            return []
        literal = odata_string(wanted)
        body = await self._client.get("systemusers", {
            "$select": USER_SELECT, "$expand": USER_EXPAND, "$orderby": "fullname", "$top": str(limit),
            "$filter": f"isdisabled eq false and azureactivedirectoryobjectid ne null and "
                       f"(contains(fullname,{literal}) or contains(internalemailaddress,{literal}))"})
        return [await self._user(row) for row in (body or {}).get("value") or []]

    async def team(self, team_id: str) -> Team | None:
        tid = guid(team_id)
        if tid is None:
            return None

        async def load() -> Team | None:
            row = await self._client.get(f"teams({tid})", {
                "$select": "teamid,name,_administratorid_value",
                "$expand": "teammembership_association($select=systemuserid)"})
            if not row:
                return None
            members = tuple(str(m["systemuserid"]).lower() for m in row.get("teammembership_association") or [])
            admin = row.get("_administratorid_value")
            return Team(tid, str(row.get("name") or tid), str(admin).lower() if admin else None, members)

        team: Team | None = await self._teams.get(tid, load)
        return team

    async def access(self, user: User, entity_set: str, record_id: str) -> Access:
        """What Dataverse itself says the user may do with the record (ownership, roles, sharing, teams)."""
        uid, rid = guid(user.id), guid(record_id)
        if user.disabled or uid is None or rid is None:
            return "none"
        target = "{'@odata.id':'" + f"{entity_set}({rid})" + "'}"
        body = await self._client.get(
            f"systemusers({uid})/Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)", {"@tid": target})
        return rights_to_access(str((body or {}).get("AccessRights") or ""))

    async def privileges(self, user: User) -> frozenset[str]:
        """Privileges from all the user's roles, direct and through teams (RetrieveUserPrivileges covers both)."""
        uid = guid(user.id)
        if uid is None:
            return frozenset()

        async def load() -> frozenset[str]:
            body = await self._client.get(f"systemusers({uid})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()")
            return frozenset(privilege_name(str(p["PrivilegeName"])) for p in (body or {}).get("RolePrivileges") or []
                             if p.get("PrivilegeName"))

        result: frozenset[str] = await self._privileges.get(uid, load)
        return result

    async def roles_with_privilege(self, privilege: str) -> list[str]:
        """Security roles holding a privilege (privilege -> roleprivileges_association); a role copied into
        several business units is listed once."""
        name = privilege if privilege.startswith("prv") else "prv" + privilege[:1].upper() + privilege[1:]
        body = await self._client.get("privileges", {
            "$select": "privilegeid,name", "$filter": f"name eq {odata_string(name)}",
            "$expand": "roleprivileges_association($select=name)"})
        names = {str(r["name"]) for p in (body or {}).get("value") or []
                 for r in p.get("roleprivileges_association") or [] if r.get("name")}
        return sorted(names, key=str.lower)

    async def _user(self, row: dict[str, Any]) -> User:
        teams = tuple(str(t["teamid"]).lower() for t in row.get("teammembership_association") or [])
        roles = [str(r["name"]) for r in row.get("systemuserroles_association") or []]
        for role in await self._team_roles(teams):
            if role not in roles:
                roles.append(role)
        return User(id=str(row["systemuserid"]).lower(), aad_object_id=str(row.get("azureactivedirectoryobjectid")
                                                                             or "").lower(),
                    name=str(row.get("fullname") or ""), email=str(row.get("internalemailaddress") or ""),
                    roles=tuple(roles), teams=teams, disabled=bool(row.get("isdisabled")))

    async def _team_roles(self, team_ids: Sequence[str]) -> list[str]:
        """Roles a user holds through team membership (security roles assigned to the team)."""
        if not team_ids:
            return []
        condition = " or ".join(f"teamid eq {t}" for t in team_ids)
        body = await self._client.get("teams", {"$select": "teamid", "$filter": condition,
                                                "$expand": "teamroles_association($select=name)"})
        return [str(r["name"]) for t in (body or {}).get("value") or []
                for r in t.get("teamroles_association") or []]
