"""A small fake Dataverse Web API v9.2 for tests: an aiohttp server on 127.0.0.1, port 0, seeded from a local
directory JSON (see fake_dataverse_seed.guid_directory) so it holds the same data as the local record source.

It answers the documented OData shapes the Dataverse record source uses: rows by id, by alternate key or
$filter, always honouring $select; formatted values and lookup annotations only when asked for with
`Prefer: odata.include-annotations="*"`; EntityDefinitions with attribute casts and option sets; savedqueries
with layoutxml; systemusers/teams/roles with their N:N expansions; RetrievePrincipalAccess and
RetrieveUserPrivileges; PATCH (If-Match: * means "no upsert") and POST; 404 for unknown rows.

    async with FakeDataverse(data) as dv:
        dv.throttle(2, retry_after="0.1")    # the next two requests get 429 + Retry-After
        dv.fail(1, 503)                      # the next request gets 503
        dv.set_access(user_id, "incident", record_id, "ReadAccess")
        dv.grant_team_role(team_id, "CSR Manager")
        dv.refuse_columns("chat", "linkedby", "linkedon")  # platform-managed columns: writes get 400
        pid = dv.profiles.add("Night shift"); dv.profiles.assign(pid, user_id)  # agent experience profiles
        dv.page_limit["msdyn_appconfiguration"] = 2  # the server pages these rows by 2, whatever is preferred
        ... dv.url, dv.requests, dv.calls("GET", "EntityDefinitions"), dv.rows("chat") ...
"""
from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web

from tests.fake_dataverse_meta import answer as metadata
from tests.fake_dataverse_odata import ODataError, parse_expand, parse_filter, serialize
from tests.fake_dataverse_profiles import NAV as PROFILE_USERS
from tests.fake_dataverse_profiles import AppProfiles, profile_table
from tests.fake_dataverse_security import APP_USER, Security
from tests.fake_dataverse_seed import BUSINESS_UNIT, LOOKUPS, Ref, Table, add_view, seed_tables
from tests.servers import serve

API = "/api/data/v9.2/"
SEGMENT = re.compile(r"^(?P<name>[\w.]+)(?:\((?P<key>.*)\))?$")
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass
class Recorded:
    method: str
    path: str  # relative to /api/data/v9.2/, e.g. incidents(5b8f...)
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    json: Any


class FakeDataverse:
    def __init__(self, data: dict[str, Any], token: str | None = None,
                 alternate_keys: dict[str, list[str]] | None = None) -> None:
        self.tables, self._rows = seed_tables(data)
        self.tables["msdyn_appconfiguration"], self._rows["msdyn_appconfiguration"] = profile_table(), {}
        # The work order's number doubles as an alternate key, so reads by number take both documented paths.
        for logical, columns in (alternate_keys if alternate_keys is not None
                                 else {"msdyn_workorder": ["msdyn_name"]}).items():
            self.tables[logical].keys.append(columns)
        self.by_set = {t.entity_set: t for t in self.tables.values()}
        self.token = token
        self.requests: list[Recorded] = []
        self.pages = 0  # pages served with odata.maxpagesize
        # Server-driven paging: the server's own page size for a table's rows (Dataverse caps pages at 5000).
        self.page_limit: dict[str, int] = {}
        self._failures: list[tuple[int, str | None]] = []
        self._refused: dict[str, set[str]] = {}
        self._forbidden: list[tuple[str, str]] = []
        self.security = Security(data)
        self.profiles = AppProfiles(self._rows)  # agent experience profiles and their users
        self.delegate = True  # the application user holds prvActOnBehalfOfAnotherUser (Delegate role)
        self.secured: dict[tuple[str, str], set[str]] = {}  # (table, column) -> user ids allowed to read it
        # (table, row id) -> (modifiedby, modifiedonbehalfby) of the last PATCH, as Dataverse records them
        self.modified: dict[tuple[str, str], tuple[str, str | None]] = {}
        self._rows["systemuser"][APP_USER] = {"systemuserid": APP_USER, "fullname": "# connected-chats",
                                              "azureactivedirectoryobjectid": None, "isdisabled": False,
                                              "applicationid": "00000000-0000-0000-0000-00000000a99"}
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeDataverse:
        app = web.Application()
        app.router.add_route("*", API + "{tail:.*}", self._handle)
        self._runner, self.url = await serve(app)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner:
            await self._runner.cleanup()

    # -- test knobs -----------------------------------------------------------------------------------------

    def throttle(self, count: int, retry_after: str | None = "1") -> None:
        """The next `count` requests get 429 (service protection limit) with this Retry-After."""
        self.fail(count, 429, retry_after)

    def fail(self, count: int, status: int, retry_after: str | None = None) -> None:
        self._failures = [(status, retry_after)] * count

    def forbid(self, method: str, entity_set: str, count: int = 1) -> None:
        """The next `count` such requests get 403 for a missing privilege, as Dataverse answers them."""
        self._forbidden += [(method, entity_set)] * count

    def refuse_columns(self, logical: str, *columns: str) -> None:
        """Writes to these columns get 400, like platform-managed columns (IsValidForCreate false)."""
        self._refused.setdefault(logical, set()).update(columns)

    def remove(self, logical: str, row_id: str) -> None:
        del self._rows[logical][row_id]

    def secure_column(self, logical: str, column: str, readers: tuple[str, ...] = ()) -> None:
        """Column-level (field) security: only `readers` (systemuser ids) and the service itself see the value;
        anyone else impersonated with CallerObjectId gets null, as Dataverse returns for a secured column."""
        self.secured[(logical, column)] = set(readers)

    def set_access(self, user_id: str, record_type: str, record_id: str, rights: str) -> None:
        self.security.overrides[(user_id, record_type, record_id)] = rights

    def revoke_privilege(self, role: str, privilege: str) -> None:
        """Take a privilege (e.g. prvDisconnectTeamsChat) out of a security role, as in the admin center."""
        self.security.role_privileges[self.security.role_id[role]].remove(privilege)

    def grant_team_role(self, team_id: str, role: str) -> None:
        self.security.team_roles[team_id].append(self.security.role_id[role])

    def add_view(self, record_type: str, name: str, columns: list[str], querytype: int = 0) -> None:
        add_view(self._rows, self.tables[record_type], name, columns, querytype)

    def rows(self, logical: str) -> list[dict[str, Any]]:
        return list(self._rows[logical].values())

    def calls(self, method: str | None = None, prefix: str = "") -> list[Recorded]:
        return [r for r in self.requests if (method is None or r.method == method) and r.path.startswith(prefix)]

    # -- HTTP -----------------------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json() if request.can_read_body else None
        tail = request.match_info["tail"]
        self.requests.append(Recorded(request.method, tail, dict(request.query),
                                      {k.lower(): v for k, v in request.headers.items()}, body))
        if self._failures:
            status, retry_after = self._failures.pop(0)
            message = ("Number of requests exceeded the limit of 6000 over time window of 300 seconds."
                       if status == 429 else "The service is temporarily unavailable.")
            return _error(status, "0x80072322" if status == 429 else "0x80040216", message,
                          {"Retry-After": retry_after} if retry_after is not None else {})
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "0x80040220", "Unauthorized", {"WWW-Authenticate": "Bearer"})
        target = (request.method, tail.split("(")[0].split("/")[0])
        if target in self._forbidden:
            self._forbidden.remove(target)
            return _error(403, "0x80040220", f"Principal user (Id={APP_USER}, type=8) is missing "
                                             f"prv{request.method.title()}{target[1]} privilege.")
        caller: str | None = None
        if oid := request.headers.get("CallerObjectId"):
            if not self.delegate:
                return _error(403, "0x80040220", f"Principal user (Id={APP_USER}, type=8) is missing "
                                                 "prvActOnBehalfOfAnotherUser privilege.")
            caller = next((u["systemuserid"] for u in self._rows["systemuser"].values()
                           if u.get("azureactivedirectoryobjectid") == oid.lower() and not u.get("isdisabled")), None)
            if caller is None:
                return _error(404, "0x80040217", f"systemuser With azureactivedirectoryobjectid = {oid} "
                                                 "Does Not Exist")
        try:
            return await self._dispatch(request, tail, body, caller)
        except ODataError as exc:
            return _error(exc.status, exc.code, exc.message)

    async def _dispatch(self, request: web.Request, tail: str, body: Any, caller: str | None
                        ) -> web.StreamResponse:
        segments = tail.split("/")
        first = SEGMENT.match(segments[0])
        if not first:
            raise ODataError(400, f"Bad Request - Error in query syntax: '{segments[0]}'.")
        name, key, query = first["name"], first["key"], dict(request.query)
        annotate = "odata.include-annotations" in request.headers.get("Prefer", "")
        if name == "EntityDefinitions":
            return web.json_response(metadata(self.tables, segments, key, query))
        if name == "WhoAmI":
            return web.json_response({"BusinessUnitId": BUSINESS_UNIT, "UserId": caller or APP_USER,
                                      "OrganizationId": "00000000-0000-0000-0000-0000000000c0"})
        table = self.by_set.get(name)
        if table is None:
            raise ODataError(404, f"Resource not found for the segment '{name}'.")
        if table.logical == "activitypointer":
            self._rows["activitypointer"] = {i: r for t, rows in self._rows.items() if t != "activitypointer"
                                             and self.tables[t].primary_id == "activityid" for i, r in rows.items()}
        if len(segments) == 2 and key and not segments[1].startswith("Microsoft.Dynamics.CRM."):
            related, result = self._navigation(table, key, segments[1], query, annotate)
            return web.json_response(self._page(request, result, related))
        if len(segments) > 1:
            return web.json_response(self._function(table, key, segments[1:], query))
        if request.method == "GET" and key is None:
            return web.json_response(self._page(request, self._query(table, query, annotate, caller), table))
        if request.method == "POST" and key is None:
            return self._create(table, body or {}, request.headers.get("Prefer", ""))
        if key is None:
            raise ODataError(405, f"{request.method} needs a row key.")
        row_id = self._key(table, key)
        row = self._rows[table.logical].get(row_id) if row_id else None
        if row is not None and caller is not None:
            self._check_rights(caller, table, row, "WriteAccess" if request.method == "PATCH" else "ReadAccess")
        if request.method == "PATCH":
            return self._update(table, row_id, row, body or {}, request, annotate, caller)
        if row is None:
            raise ODataError(404, f"{table.logical} With Id = {key} Does Not Exist", "0x80040217")
        if request.method == "DELETE":
            del self._rows[table.logical][row_id]  # type: ignore[arg-type]
            return web.Response(status=204)
        return web.json_response(self._one(table, row, query, annotate, caller))

    def _check_rights(self, caller: str, table: Table, row: dict[str, Any], right: str) -> None:
        """Impersonated calls get the caller's own record access, as Dataverse applies it."""
        if table.strict and right not in self.security.rights(caller, table, row):
            raise ODataError(403, f"Principal user (Id={caller}, type=8) is missing "
                                  f"{'prvWrite' if right == 'WriteAccess' else 'prvRead'}{table.logical} privilege "
                                  f"on {table.logical} {row[table.primary_id]}.", "0x80040220")

    def _mask(self, table: Table, out: dict[str, Any], caller: str | None) -> dict[str, Any]:
        """Secured columns the caller may not read come back null, without formatted values."""
        for (logical, column), readers in self.secured.items():
            if logical != table.logical or caller is None or caller in readers:
                continue
            for key in list(out):
                if key in (column, f"_{column}_value"):
                    out[key] = None
                elif key.startswith((f"{column}@", f"_{column}_value@")):
                    del out[key]
        return out

    def _key(self, table: Table, key: str) -> str | None:
        if GUID.match(key):
            return key.lower()
        match = re.match(r"^(\w+)='((?:[^']|'')*)'$", key)
        if not match:
            raise ODataError(400, f"Bad Request - Error in query syntax: key {key!r}.", "0x80060888")
        column, value = match[1], match[2].replace("''", "'")
        if [column] not in table.keys:
            raise ODataError(400, f"The key attribute '{column}' is not an alternate key of {table.logical}.")
        found = [i for i, r in self._rows[table.logical].items() if str(r.get(column, "")).lower() == value.lower()]
        return found[0] if found else None

    def _name_of(self, ref: Ref) -> str:
        table, row = self.tables.get(ref.kind), self._rows.get(ref.kind, {}).get(ref.id)
        return str(row.get(table.primary_name) or "") if table and row else ""

    def _one(self, table: Table, row: dict[str, Any], query: dict[str, str], annotate: bool,
             caller: str | None = None) -> dict[str, Any]:
        select = query["$select"].split(",") if query.get("$select") else None
        out = self._mask(table, serialize(table, row, select, annotate, self._name_of), caller)
        for nav, opts in parse_expand(query.get("$expand", "")).items():
            related_table, related = self._related(table, row, nav)
            sub = opts["$select"].split(",") if opts.get("$select") else None
            out[nav] = [serialize(related_table, r, sub, annotate, self._name_of) for r in related]
        out["@odata.etag"] = 'W/"1"'
        return out

    def _navigation(self, table: Table, key: str, nav: str, query: dict[str, str], annotate: bool
                    ) -> tuple[Table, dict[str, Any]]:
        """A collection-valued navigation property, e.g. systemusers(<id>)/msdyn_appconfiguration_systemuser:
        the related rows, queried like an entity set ($select, $filter, $orderby, $top, paging)."""
        row = self._rows[table.logical].get(key.lower()) if GUID.match(key) else None
        if row is None:
            raise ODataError(404, f"{table.logical} With Id = {key} Does Not Exist", "0x80040217")
        related_table, related = self._related(table, row, nav)
        return related_table, self._query(related_table, query, annotate, rows=related)

    def _query(self, table: Table, query: dict[str, str], annotate: bool, caller: str | None = None,
               rows: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        rows = list(self._rows[table.logical].values()) if rows is None else rows
        if caller is not None and table.strict:  # a query returns only the rows the caller may read
            rows = [r for r in rows if "ReadAccess" in self.security.rights(caller, table, r)]
        if query.get("$filter"):
            predicate = parse_filter(query["$filter"])
            rows = [r for r in rows if predicate(partial(self._property, table, r))]
        if query.get("$orderby"):
            column, _, direction = query["$orderby"].partition(" ")
            rows.sort(key=lambda r: str(r.get(column) or "").lower(), reverse=direction.strip() == "desc")
        if query.get("$top"):
            rows = rows[:int(query["$top"])]
        return {"@odata.context": f"{API}$metadata#{table.entity_set}",
                "value": [self._one(table, r, query, annotate, caller) for r in rows]}

    def _page(self, request: web.Request, result: dict[str, Any], table: Table) -> dict[str, Any]:
        """Server-driven paging: with `Prefer: odata.maxpagesize=N` (or the table's page_limit, if smaller) a
        page holds N rows and, when more follow, an absolute @odata.nextLink repeating the query with a
        $skiptoken (opaque to clients)."""
        size = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        sizes = [int(size[1])] if size else []
        sizes += [self.page_limit[table.logical]] if table.logical in self.page_limit else []
        if not sizes:
            return result
        start = int(request.query.get("$skiptoken", "0") or 0)
        end = start + min(sizes)
        rows = result["value"]
        result["value"] = rows[start:end]
        self.pages += 1
        if end < len(rows):
            result["@odata.nextLink"] = str(request.url.update_query({"$skiptoken": str(end)}))
        return result

    def _property(self, table: Table, row: dict[str, Any], path: str) -> Any:
        if path.startswith("_") and path.endswith("_value"):
            ref = row.get(path[1:-6])
            return ref.id if isinstance(ref, Ref) else None
        if table.strict and path not in table.attrs:
            raise ODataError(400, f"Could not find a property named '{path}' on type "
                                  f"'Microsoft.Dynamics.CRM.{table.logical}'.")
        return row.get(path)

    def _related(self, table: Table, row: dict[str, Any], nav: str) -> tuple[Table, list[dict[str, Any]]]:
        rid = row.get(table.primary_id, "")
        roles, teams, users = (self._rows[n] for n in ("role", "team", "systemuser"))
        sec = self.security
        if (table.logical, nav) == ("systemuser", "systemuserroles_association"):
            return self.tables["role"], [roles[r] for r in sec.user_roles.get(rid, [])]
        if (table.logical, nav) == ("systemuser", "teammembership_association"):
            return self.tables["team"], [teams[t] for t, m in sec.team_members.items() if rid in m]
        if (table.logical, nav) == ("team", "teammembership_association"):
            return self.tables["systemuser"], [users[u] for u in sec.team_members.get(rid, [])]
        if (table.logical, nav) == ("team", "teamroles_association"):
            return self.tables["role"], [roles[r] for r in sec.team_roles.get(rid, [])]
        if nav == PROFILE_USERS and table.logical in ("systemuser", "msdyn_appconfiguration"):
            other = "msdyn_appconfiguration" if table.logical == "systemuser" else "systemuser"
            return self.tables[other], self.profiles.related(table.logical, row)
        if (table.logical, nav) == ("privilege", "roleprivileges_association"):
            return self.tables["role"], [roles[r] for r, names in sec.role_privileges.items() if row["name"] in names]
        raise ODataError(400, f"Could not find a property named '{nav}' on type "
                              f"'Microsoft.Dynamics.CRM.{table.logical}'.")

    def _function(self, table: Table, key: str | None, rest: list[str], query: dict[str, str]) -> dict[str, Any]:
        user = self._rows["systemuser"].get((key or "").lower())
        if table.logical != "systemuser" or user is None:
            raise ODataError(404, f"systemuser With Id = {key} Does Not Exist", "0x80040217")
        if rest == ["Microsoft.Dynamics.CRM.RetrieveUserPrivileges()"]:
            return self.security.user_privileges(user["systemuserid"], self.delegate)
        if rest == ["Microsoft.Dynamics.CRM.RetrievePrincipalAccess(Target=@tid)"]:
            target = re.search(r"""["']@odata\.id["']\s*:\s*["'](\w+)\(([^)]+)\)["']""", query.get("@tid", ""))
            record_table = self.by_set.get(target[1]) if target else None
            record = self._rows[record_table.logical].get(target[2].lower()) if record_table and target else None
            if record_table is None or record is None or target is None:
                raise ODataError(404, "The target record does not exist.", "0x80040217")
            return {"AccessRights": self.security.rights(user["systemuserid"], record_table, record)}
        raise ODataError(400, f"Unknown function '{'/'.join(rest)}'.")

    def _apply(self, table: Table, row: dict[str, Any], body: dict[str, Any]) -> None:
        for key, value in body.items():
            if (table.nav_attribute(key.removesuffix("@odata.bind")) or key) in self._refused.get(table.logical, ()):
                raise ODataError(400, f"'{key}' is not valid for create or update on {table.logical}.", "0x80040203")
            if key.endswith("@odata.bind"):
                attribute = table.nav_attribute(key[:-len("@odata.bind")])
                target = re.match(r"^/?(\w+)\(([^)]+)\)$", str(value))
                target_table = self.by_set.get(target[1]) if target else None
                if attribute is None or target is None or target_table is None:
                    raise ODataError(400, f"An undeclared property '{key}' or bad reference {value!r}.")
                if target[2].lower() not in self._rows[target_table.logical]:
                    raise ODataError(404, f"{target_table.logical} With Id = {target[2]} Does Not Exist", "0x80040217")
                row[attribute] = Ref(target_table.logical, target[2].lower())
                continue
            attr = table.attrs.get(key)
            if (table.strict and attr is None) or (attr and attr.type in LOOKUPS):
                raise ODataError(400, f"Invalid property '{key}' was found in entity "
                                      f"'Microsoft.Dynamics.CRM.{table.logical}'.")
            if attr and attr.options and value not in [v for v, _ in attr.options]:
                raise ODataError(400, f"A validation error occurred. The value {value} of '{key}' on record of "
                                      f"type '{table.logical}' is outside the valid range.", "0x80044331")
            row[key] = value

    def _create(self, table: Table, body: dict[str, Any], prefer: str) -> web.Response:
        new_id = str(body.pop(table.primary_id, None) or uuid.uuid4()).lower()
        row: dict[str, Any] = {table.primary_id: new_id}
        if "statecode" in table.attrs:
            row.update(statecode=0, statuscode=1)
        self._apply(table, row, body)
        self._rows[table.logical][new_id] = row
        headers = {"OData-EntityId": f"{self.url}{API}{table.entity_set}({new_id})"}
        if "return=representation" in prefer:
            return web.json_response(serialize(table, row, None, False, self._name_of), status=201, headers=headers)
        return web.Response(status=204, headers=headers)

    def _update(self, table: Table, row_id: str | None, row: dict[str, Any] | None, body: dict[str, Any],
                request: web.Request, annotate: bool, caller: str | None = None) -> web.Response:
        if row is None:
            if request.headers.get("If-Match") == "*" or row_id is None:
                raise ODataError(404, f"{table.logical} With Id = {row_id} Does Not Exist", "0x80040217")
            return self._create(table, {**body, table.primary_id: row_id}, "")  # PATCH without If-Match upserts
        for column in body:
            readers = self.secured.get((table.logical, column))
            if caller is not None and readers is not None and caller not in readers:
                raise ODataError(403, f"The user does not have update permissions to a secured field "
                                      f"'{column}' of {table.logical}.", "0x80048244")
        self._apply(table, row, body)
        # Who made the change, as Dataverse records it: the impersonated user, on behalf of the service.
        self.modified[(table.logical, row[table.primary_id])] = (caller or APP_USER, APP_USER if caller else None)
        if "return=representation" in request.headers.get("Prefer", ""):
            return web.json_response(self._one(table, row, dict(request.query), annotate, caller))
        return web.Response(status=204)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps({"error": {"code": code, "message": message}}),
                        content_type="application/json", headers=headers)
