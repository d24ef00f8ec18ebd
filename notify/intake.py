"""A Dataverse operation -> one change event for the notifier: the watched changes, with names for the lookups
Dataverse sent without one (read once each from the record source)."""
from __future__ import annotations

from domain import lifecycle as lifecycle_rules
from domain.model import ChangeEvent, RecordType
from domain.notifications import UNKNOWN
from domain.ports import GatewayError
from domain.settings import RecordTypeSettings
from notify.notifier import Notifier, Outcome
from notify.remote_context import Operation, Ref, Value


async def ingest(notifier: Notifier, op: Operation, fallback_url: str = "") -> Outcome:
    """The operation's watched changes, named and formatted, submitted as one change event."""
    found = await notifier.rules_for(op.entity)
    if isinstance(found, str):
        return Outcome("ignored", found)
    rtype, rts = found
    keep = lifecycle_rules.needed_columns(rts.lifecycle, rts.watched) if notifier.lifecycle else set(rts.watched)
    raw = await _current(notifier, rtype, rts, op) if op.truncated else \
        {k: v for k, v in op.changed.items() if k in keep}
    if not raw:
        return Outcome("ignored", "no watched field changed")
    names = _Names(notifier)
    changed = {k: (await names.text(old), await names.text(new)) for k, (old, new) in raw.items()}
    owner = raw.get(lifecycle_rules.OWNER, ("", ""))[1]  # issue 15: who the new owner is, not only their name
    event = ChangeEvent(event_id=op.dedupe_key, record_type=rtype.logical_name, record_id=op.record_id,
                        changed=changed, changed_by=await names.user(op.user_id, op.modified_by), changed_at=op.at,
                        new_owner=(owner.logical_name, owner.id) if isinstance(owner, Ref) else None)
    return await notifier.submit(event, op.dedupe_key, fallback_url)


async def _current(notifier: Notifier, rtype: RecordType, rts: RecordTypeSettings,
                   op: Operation) -> dict[str, tuple[Value, Value]]:
    """Over 256 KB Dataverse sends no columns: show the record's current watched values, earlier ones unknown."""
    record = await notifier.records.get_record(rtype.logical_name, op.record_id)
    if record is None:
        return {}
    return {a: (UNKNOWN, str(record.values.get(a) or "")) for a in rts.watched}


class _Names:
    """Names for lookups Dataverse sent without one, read once each from the record source."""

    def __init__(self, notifier: Notifier) -> None:
        self.records = notifier.records
        self.cache: dict[tuple[str, str], str] = {}

    async def text(self, value: Value) -> str:
        if isinstance(value, str):
            return value
        if value.name:
            return value.name
        key = (value.logical_name, value.id)
        if key not in self.cache:
            self.cache[key] = await self._lookup(value) or value.id
        return self.cache[key]

    async def _lookup(self, ref: Ref) -> str | None:
        try:
            if ref.logical_name == "systemuser":
                user = await self.records.user(ref.id)
                return user.name if user else None
            if ref.logical_name == "team":
                team = await self.records.team(ref.id)
                return team.name if team else None
            record = await self.records.get_record(ref.logical_name, ref.id)
            return record.name if record else None
        except (GatewayError, LookupError, ValueError):
            return None

    async def user(self, user_id: str, modified_by: Value) -> str:
        if user_id:
            named = await self.text(Ref("systemuser", user_id.lower()))
            if named != user_id.lower():
                return named
        return await self.text(modified_by) if modified_by else user_id
