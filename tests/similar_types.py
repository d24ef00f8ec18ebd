"""Shared by the tests of AI-suggested contacts for types without a resolution activity: the fake Dataverse's work
orders (msdyn_workorder) with the system columns every Dataverse table has (statecode Active/Inactive, statuscode,
createdon, modifiedon, modifiedby) and a summary to compare them by; Update and Delete webhook bodies for them."""
from __future__ import annotations

import time
import uuid
from typing import Any

from tests.fake_dataverse_seed import demo_data
from tests.notify_helpers import option

WORKORDER = "msdyn_workorder"
SUMMARY = "msdyn_workordersummary"
ISAIAH_ID = "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"  # systemuser ids
MEGAN_ID = "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
PATTI_ID = "5e3f4a6b-7c8d-ef11-8409-000d3a4b9c24"
OPEN_HVAC = ("9a000000-0000-4000-8000-000000000050", "WO-00050",
             "Rooftop HVAC compressor trips the breaker on start")
SIMILAR_HVAC = ("9a000000-0000-4000-8000-000000000051", "WO-00051",
                "HVAC compressor tripping breaker at startup, rooftop unit 2")
CREATED = "2026-11-20T09:15:00Z"  # every work order's createdon
_REF = "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts"


def closed_id(i: int) -> str:
    return f"9b000000-0000-4000-8000-{i:012d}"


def workorder_data(closed: int = 3) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo directory (GUID ids) whose work orders carry states, and its demo id -> GUID mapping. `closed`
    inactive ones were closed by Isaiah (statecode Inactive, modifiedby Isaiah, modifiedon 2026-11-12T16:00Z),
    besides two open HVAC work orders."""
    data, ids = demo_data()
    kind = data["recordTypes"][WORKORDER]
    kind["attributes"].update({
        SUMMARY: {"type": "Memo", "displayName": "Work Order Summary"},
        "statecode": {"type": "State", "displayName": "Status", "options": ["Active", "Inactive"]},
        "statuscode": {"type": "Status", "displayName": "Status Reason", "options": ["Active", "Inactive"]},
        "createdon": {"type": "DateTime", "displayName": "Created On"},
        "modifiedon": {"type": "DateTime", "displayName": "Modified On"},
        "modifiedby": {"type": "Lookup", "displayName": "Modified By", "targets": ["systemuser"]}})
    rows = data["records"][WORKORDER]
    for row in rows:
        row.update(statecode="Active", statuscode="Active", createdon=CREATED)
    for rid, name, summary in (OPEN_HVAC, SIMILAR_HVAC):
        rows.append({"id": rid, "msdyn_name": name, SUMMARY: summary, "statecode": "Active", "statuscode": "Active",
                     "createdon": CREATED, "ownerid": {"type": "systemuser", "id": ISAIAH_ID}})
    for i in range(closed):
        rows.append({"id": closed_id(i), "msdyn_name": f"WO-9{i:04d}", SUMMARY: f"Walk-in freezer door seal {i}",
                     "statecode": "Inactive", "statuscode": "Inactive", "createdon": CREATED,
                     "modifiedon": "2026-11-12T16:00:00Z", "modifiedby": {"type": "systemuser", "id": ISAIAH_ID},
                     "ownerid": {"type": "systemuser", "id": ISAIAH_ID}})
    return data, ids


def update_body(record_id: str, state: int | None = None, by: str | None = MEGAN_ID, initiating: str = PATTI_ID,
                days_ago: float = 3, changed: dict[str, str] | None = None) -> dict[str, Any]:
    """A RemoteExecutionContext for Update of a work order, as an asynchronous post-operation step posts it: the
    Target holds the changed columns plus the modifiedon/modifiedby Dataverse adds (`by` None: left out)."""
    at_ms = int((time.time() - days_ago * 86_400) * 1000)
    attrs: list[dict[str, Any]] = [{"key": "msdyn_workorderid", "value": record_id},
                                   {"key": "modifiedon", "value": f"/Date({at_ms})/"}]
    formatted = []
    if state is not None:
        attrs += [{"key": "statecode", "value": option(state)}, {"key": "statuscode", "value": option(state + 1)}]
        label = "Active" if state == 0 else "Inactive"
        formatted += [{"key": "statecode", "value": label}, {"key": "statuscode", "value": label}]
    attrs += [{"key": k, "value": v} for k, v in (changed or {}).items()]
    if by is not None:
        attrs.append({"key": "modifiedby", "value": {"__type": _REF, "Id": by, "KeyAttributes": [],
                                                     "LogicalName": "systemuser", "Name": None, "RowVersion": None}})
    return _context("Update", record_id, initiating, [{"key": "Target", "value": {
        "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts", "LogicalName": WORKORDER,
        "Id": record_id, "Attributes": attrs, "FormattedValues": formatted, "KeyAttributes": [],
        "RelatedEntities": [], "EntityState": None, "RowVersion": None}}])


def delete_body(record_id: str, initiating: str = PATTI_ID) -> dict[str, Any]:
    return _context("Delete", record_id, initiating, [{"key": "Target", "value": {
        "__type": _REF, "Id": record_id, "KeyAttributes": [], "LogicalName": WORKORDER, "Name": None,
        "RowVersion": None}}])


def _context(message: str, record_id: str, initiating: str, params: list[dict[str, Any]]) -> dict[str, Any]:
    return {"MessageName": message, "PrimaryEntityName": WORKORDER, "PrimaryEntityId": record_id,
            "OperationId": str(uuid.uuid4()), "CorrelationId": str(uuid.uuid4()), "InitiatingUserId": initiating,
            "UserId": initiating, "Stage": 40, "Mode": 1, "Depth": 1,
            "OperationCreatedOn": f"/Date({int(time.time() * 1000)})/", "InputParameters": params,
            "PreEntityImages": [], "PostEntityImages": []}
