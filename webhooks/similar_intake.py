"""Dataverse webhook messages that keep the similar-cases index current (AI-suggested contacts), so a resolution is
suggestable as soon as Dataverse reports it.

Cases (incident) have a resolution activity:
  Create incidentresolution   the case it names is resolved: index its configured fields, resolver, dates
  Update incident             reactivated (statecode Active): leave the index; a configured field changed on an
                              indexed case: index its current text again
  Delete incident             leave the index
Any other type with AI-suggested contacts on has no such activity; leaving the Active state is its resolution
(statecode 0 is Active in every table's StateAttributeMetadata):
  Update, statecode not 0     resolved by the user who made the change (Target's modifiedby, else the initiating
                              user) at its modifiedon: read the record and index it; already indexed (a retry, or
                              one inactive state to another): keep the first resolution, refresh the text
  Update, statecode 0         back to Active: leave the index
  Update, a configured field  on an indexed record: index its current text again
  Delete                      leave the index
Everything else (and types with AI-suggested contacts off) is none of this module's business. Every write is an
upsert or a delete, so Dataverse's retries and duplicate deliveries change nothing."""
from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from domain.ports import RecordSource, SettingsStore
from domain.settings import RecordTypeSettings
from domain.similar import IndexedCase, case_text, parse_when
from notify.remote_context import Operation, Ref, entity_values
from store.similar import SqlSimilarCases

RESOLUTION = "incidentresolution"
CASE = "incident"
_DATE = re.compile(r"^/Date\((-?\d+)")
ACTIVE = ("0", "Active")  # statecode of an open case: raw option value or its label
ACTIVE_STATE = 0  # StateAttributeMetadata: the Active (open) state of every table has the value 0


class SimilarIntake:
    def __init__(self, records: RecordSource, settings: SettingsStore, index: SqlSimilarCases) -> None:
        self.records, self.settings, self.index = records, settings, index

    async def handle(self, body: dict[str, Any], op: Operation) -> str | None:
        """What the operation did to the index, or None when it does not concern the index."""
        settings, _ = await self.settings.load()  # cached: no database read per message
        rts = settings.for_type(CASE if op.entity == RESOLUTION else op.entity)
        if rts is None or not rts.similar_contacts:
            return None
        if op.entity == RESOLUTION:
            return await self._resolved(body, op, rts) if op.message == "Create" else None
        if op.message == "Delete":
            await self.index.remove(op.entity, op.record_id)
            return "removed"
        if op.message != "Update":
            return None
        if op.entity == CASE:
            return await self._case_update(op, rts)
        return await self._state_update(body, op, rts)

    async def _case_update(self, op: Operation, rts: RecordTypeSettings) -> str | None:
        state = op.changed.get("statecode")
        if state is not None and _text(state[1]) in ACTIVE:
            await self.index.remove(CASE, op.record_id)
            return "reactivated: removed"
        if any(f in op.changed for f in rts.similar_fields) or op.truncated:
            return await self._reindex(CASE, op.record_id, rts)
        return None

    async def _state_update(self, body: dict[str, Any], op: Operation, rts: RecordTypeSettings) -> str | None:
        """A type without a resolution activity: leaving the Active state resolves the record."""
        state = _state(body)
        if state == ACTIVE_STATE:
            await self.index.remove(op.entity, op.record_id)
            return "reactivated: removed"
        if state is not None:
            known = await self.index.resolution(op.entity, op.record_id)
            if known is not None:  # a retry, or from one inactive state to another: the first leaving counts
                return await self._index(op.entity, op.record_id, rts, *known)
            by = op.modified_by.id if isinstance(op.modified_by, Ref) and op.modified_by.id else op.user_id
            return await self._index(op.entity, op.record_id, rts, by.lower(), op.at)
        if any(f in op.changed for f in rts.similar_fields) or op.truncated:
            return await self._reindex(op.entity, op.record_id, rts)
        return None

    async def _resolved(self, body: dict[str, Any], op: Operation, rts: RecordTypeSettings) -> str:
        target = _target(body)
        values = entity_values(target)
        case = values.get("incidentid")
        if not isinstance(case, Ref) or not case.id:
            return "ignored: the resolution names no case"
        by = next((v.id for k in ("createdby", "ownerid") if isinstance(v := values.get(k), Ref) and v.id),
                  op.user_id.lower())
        raw = {p.get("key"): p.get("value") for p in target.get("Attributes", []) if isinstance(p, dict)}
        at = _dataverse_date(raw.get("actualend")) or op.at
        return await self._index(CASE, case.id, rts, by, at)

    async def _reindex(self, record_type: str, record_id: str, rts: RecordTypeSettings) -> str | None:
        known = await self.index.resolution(record_type, record_id)
        if known is None:
            return None  # not a resolved record: nothing indexed to refresh
        by, at = known
        return await self._index(record_type, record_id, rts, by, at)

    async def _index(self, record_type: str, record_id: str, rts: RecordTypeSettings, by: str,
                     at: datetime | None) -> str:
        record = await self.records.get_record(record_type, record_id)
        if record is None or not by:
            return f"ignored: the {'case' if record_type == CASE else 'record'} or its resolver is unknown"
        await self.index.upsert(IndexedCase(record_type, record.id, case_text(record.values, rts.similar_fields),
                                            by, at, parse_when(record.values.get("createdon"))))
        return "indexed"


def _target(body: dict[str, Any]) -> dict[str, Any]:
    params = body.get("InputParameters")
    pairs = {p.get("key"): p.get("value") for p in params if isinstance(p, dict)} if isinstance(params, list) else {}
    target = pairs.get("Target")
    return target if isinstance(target, dict) and isinstance(target.get("Attributes"), list) else {}


def _state(body: dict[str, Any]) -> int | None:
    """The statecode option value the Update wrote (Target's OptionSetValue, not its label, which is in the
    user's language), or None when the Update did not touch the state."""
    raw = next((p.get("value") for p in _target(body).get("Attributes", [])
                if isinstance(p, dict) and p.get("key") == "statecode"), None)
    value = raw.get("Value") if isinstance(raw, dict) else raw
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: Any) -> str:
    return value.id if isinstance(value, Ref) else str(value)


def _dataverse_date(value: Any) -> datetime | None:
    """/Date(1764583200000)/, as Dataverse serialises a DateTime in a RemoteExecutionContext."""
    match = _DATE.match(value) if isinstance(value, str) else None
    return datetime.fromtimestamp(int(match.group(1)) / 1000, UTC) if match else None
