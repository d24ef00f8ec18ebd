"""Agent experience profiles in the fake Dataverse: app profile rows (msdyn_appconfiguration, as the App profile
manager solution defines the table) and the users assigned to them, the N:N relationship
msdyn_appconfiguration_systemuser, whose navigation property has that name on both tables.

    pid = dv.profiles.add("Night shift")            # an active profile; returns its msdyn_appconfigurationid
    dv.profiles.assign(pid, user_id) / dv.profiles.unassign(pid, user_id)
    dv.profiles.deactivate(pid)                      # statecode 1 (Inactive)
"""
from __future__ import annotations

import re
from typing import Any

from tests.fake_dataverse_seed import Attr, Table, stable_guid

NAV = "msdyn_appconfiguration_systemuser"


def profile_table() -> Table:
    def a(name: str, kind: str = "String", **kw: Any) -> Attr:
        return Attr(name, kind, name, **kw)

    attrs = [a("msdyn_appconfigurationid", "Uniqueidentifier"), a("msdyn_name"), a("msdyn_uniquename"),
             a("msdyn_appmoduleuniquename"), a("msdyn_description", "Memo"),
             a("statecode", "State", options=[(0, "Active"), (1, "Inactive")]),
             a("statuscode", "Status", options=[(1, "Active"), (2, "Inactive")])]
    # strict: $select or $filter on a column the table does not have gets 400, as from Dataverse.
    return Table("msdyn_appconfiguration", "App profile", "msdyn_appconfigurationid", "msdyn_name",
                 {x.name: x for x in attrs}, strict=True)


class AppProfiles:
    def __init__(self, rows: dict[str, dict[str, dict[str, Any]]]) -> None:
        self._rows = rows
        self.members: dict[str, list[str]] = {}  # profile id -> systemuser ids (the intersect table's rows)

    def add(self, name: str, unique_name: str = "", app: str = "msdyn_CustomerServiceWorkspace") -> str:
        pid = stable_guid("app profile:" + name)
        unique = unique_name or "new_" + re.sub(r"\W", "", name.lower())
        self._rows["msdyn_appconfiguration"][pid] = {
            "msdyn_appconfigurationid": pid, "msdyn_name": name, "msdyn_uniquename": unique,
            "msdyn_appmoduleuniquename": app, "statecode": 0, "statuscode": 1}
        self.members[pid] = []
        return pid

    def assign(self, profile_id: str, user_id: str) -> None:
        if user_id not in self.members[profile_id]:
            self.members[profile_id].append(user_id)

    def unassign(self, profile_id: str, user_id: str) -> None:
        self.members[profile_id].remove(user_id)

    def deactivate(self, profile_id: str) -> None:
        self._rows["msdyn_appconfiguration"][profile_id].update(statecode=1, statuscode=2)

    def related(self, logical: str, row: dict[str, Any]) -> list[dict[str, Any]]:
        """The other side of the N:N from a profile (its users) or from a user (their profiles)."""
        if logical == "msdyn_appconfiguration":
            users = self._rows["systemuser"]
            return [users[u] for u in self.members.get(row["msdyn_appconfigurationid"], []) if u in users]
        profiles = self._rows["msdyn_appconfiguration"]
        return [profiles[p] for p, users in self.members.items() if row["systemuserid"] in users]
