"""The fake Dataverse's security model: roles (direct and through teams), privileges, team membership and the
access rights RetrievePrincipalAccess reports, following the local directory's rules."""
from __future__ import annotations

from typing import Any

from tests.fake_dataverse_seed import BUSINESS_UNIT, Ref, Table, stable_guid

APP_USER = stable_guid("application user: connected-chats")  # the service's own identity (an application user)
DELEGATE = "prvActOnBehalfOfAnotherUser"
FULL = "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, CreateAccess, DeleteAccess, ShareAccess, AssignAccess"
RIGHTS = {"write": "ReadAccess, WriteAccess, AppendAccess, AppendToAccess", "read": "ReadAccess", "none": "None"}
LEVEL = {"none": 0, "read": 1, "write": 2}


class Security:
    def __init__(self, data: dict[str, Any]) -> None:
        users, roles = data.get("users", []), data.get("roles") or {}
        self.role_id = {n: stable_guid("role:" + n) for n in {*roles, *(r for u in users for r in u["roles"])}}
        self.user_roles = {u["id"]: [self.role_id[r] for r in u.get("roles", [])] for u in users}
        self.team_members = {t["id"]: [u["id"] for u in users if t["id"] in u.get("teams", [])]
                             for t in data.get("teams", [])}
        self.team_roles: dict[str, list[str]] = {t: [] for t in self.team_members}
        self.role_privileges = {self.role_id[n]: ["prv" + p[:1].upper() + p[1:] for p in r.get("privileges", [])]
                                for n, r in roles.items()}
        self.role_access = {self.role_id[n]: dict(r.get("access", {})) for n, r in roles.items()}
        self.overrides: dict[tuple[str, str, str], str] = {}

    def roles_of(self, user_id: str) -> list[str]:
        """Role ids a user holds, directly and through the teams they are a member of."""
        via_teams = [r for t, members in self.team_members.items() if user_id in members for r in self.team_roles[t]]
        return self.user_roles.get(user_id, []) + via_teams

    def user_privileges(self, user_id: str, delegate: bool = False) -> dict[str, Any]:
        """RetrieveUserPrivileges: RolePrivileges of every role, direct and through teams. The application user
        holds System Administrator's privileges plus, when `delegate`, the Delegate role's."""
        admin = self.role_id.get("System Administrator")
        roles = self.roles_of(user_id) or ([admin] if admin and user_id == APP_USER else [])
        names = dict.fromkeys(p for r in roles for p in self.role_privileges.get(r, []))
        if user_id == APP_USER and delegate:
            names[DELEGATE] = None
        return {"RolePrivileges": [{"Depth": "Global", "PrivilegeId": stable_guid("privilege:" + n),
                                    "BusinessUnitId": BUSINESS_UNIT, "PrivilegeName": n} for n in names]}

    def rights(self, user_id: str, table: Table, record: dict[str, Any]) -> str:
        """RetrievePrincipalAccess: owner and owning-team members get all rights, otherwise the best role."""
        override = self.overrides.get((user_id, table.logical, record[table.primary_id]))
        if override:
            return override
        owner = record.get("ownerid")
        if isinstance(owner, Ref) and (owner.id == user_id or user_id in self.team_members.get(owner.id, [])):
            return FULL
        levels = [self.role_access.get(r, {}).get(table.logical, "none") for r in self.roles_of(user_id)]
        return RIGHTS[max(levels, key=LEVEL.__getitem__, default="none")]
