"""When the record moves on (issue 15), pure: which change events are a reassignment, a closing (resolved or
cancelled) or a reopening, what the chats are told, which policy settings are refused, and what the CRM must
send us (the webhook registrations issue 14 reconciles)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from domain.kinds import AuditEvent
from domain.lifecycle_policy import LifecyclePolicy
from domain.model import ChangeEvent, RecordType
from domain.notifications import UNKNOWN
from domain.registrations import StepNeed
from domain.settings import Settings

OWNER, STATE, STATUS = "ownerid", "statecode", "statuscode"
COLUMNS = (OWNER, STATE, STATUS)
POLICY_USER = "policy:lifecycle"  # connected_by / disconnected_by when the policy, not a person, acted
AUDIT_EVENTS = (AuditEvent.REASSIGNED_NOTICE, AuditEvent.CLOSED_NOTICE, AuditEvent.REOPENED_NOTICE,
                AuditEvent.MEMBER_ADDED_BY_POLICY, AuditEvent.MEMBER_ADDED_BY_BUTTON, AuditEvent.MEMBER_ADD_REFUSED,
                AuditEvent.OWNER_MESSAGED, AuditEvent.DISCONNECTED_BY_POLICY, AuditEvent.RECONNECTED_BY_POLICY)


@dataclass(frozen=True)
class Notice:
    """One lifecycle change as the chats hear of it. kind: reassigned | closed | reopened."""
    kind: str
    by: str
    old_owner: str = ""
    new_owner: str = ""
    owner_kind: str = ""  # systemuser | team, when the event said who the new owner is
    owner_id: str = ""
    state: str = ""  # the new state's label (Resolved, Cancelled, Active)
    status: str = ""  # the new status reason
    resolution: str = ""  # Dataverse: the incidentresolution's subject; local: the change itself
    resolution_detail: str = ""


def open_state(rtype: RecordType) -> str:
    """The label of the open state: the first option of statecode (Active for case, the CRM's order)."""
    attr = rtype.attributes.get(STATE)
    return attr.options[0] if attr and attr.options else "Active"


def detect(event: ChangeEvent, rtype: RecordType, policy: LifecyclePolicy) -> list[Notice]:
    """The lifecycle changes in one event that the policy wants told (none when it is off for them)."""
    out: list[Notice] = []
    if OWNER in event.changed and (policy.reassign_notice or policy.reassign_add != "off"
                                   or policy.reassign_message_owner):
        old, new = event.changed[OWNER]
        if old != new and old != UNKNOWN:  # an oversized payload says the value now, not that it changed
            kind, oid = event.new_owner or ("", "")
            out.append(Notice("reassigned", event.changed_by, old, new, kind, oid))
    if STATE in event.changed:
        old, new = event.changed[STATE]
        if old == UNKNOWN:
            return out
        status = event.changed.get(STATUS, ("", ""))[1]
        opened = open_state(rtype)
        if old != new and new != opened and (policy.close_notice or policy.close_disconnect):
            change = f"{rtype.label(STATE)}: {old or '(empty)'} → {new}" + (f" ({status})" if status else "")
            out.append(Notice("closed", event.changed_by, state=new, status=status, resolution=change))
        elif old != new and new == opened and old and policy.reopen_notice:
            out.append(Notice("reopened", event.changed_by, state=new, status=status))
    return out


def headline(notice: Notice, type_label: str) -> str:
    """The card's first line."""
    if notice.kind == "reassigned":
        return f"{type_label} reassigned from {notice.old_owner or '(nobody)'} to {notice.new_owner or '(nobody)'}"
    if notice.kind == "closed":
        verb = "cancelled" if notice.state.lower().startswith("cancel") else notice.state.lower() or "closed"
        return f"{type_label} {verb}" + (f" by {notice.by}" if notice.by else "")
    return f"{type_label} reopened" + (f" by {notice.by}" if notice.by else "")


def to_dict(notice: Notice) -> dict[str, Any]:
    return asdict(notice)


def from_dict(data: Mapping[str, Any]) -> Notice:
    return Notice(**{k: str(v) for k, v in data.items() if k in Notice.__dataclass_fields__})


# -- settings -----------------------------------------------------------------------------------------------

def validate_lifecycle(rtype: RecordType, policy: LifecyclePolicy) -> list[tuple[str, str]]:
    """(setting, problem) pairs: the policy needs the columns it follows and update events, and adding the new
    owner follows Join's rules (join must be on for the type, checked by the caller's settings)."""
    if not policy.active:
        return []
    if rtype.virtual or not rtype.update_events:
        return [("reassign_notice", f"{rtype.display_name} raises no update events, so its lifecycle can't be "
                                    "followed")]
    wants_owner = policy.reassign_notice or policy.reassign_add != "off" or policy.reassign_message_owner
    if wants_owner and OWNER not in rtype.attributes:
        return [("reassign_notice", f"{rtype.display_name} has no owner (ownerid), so it is never reassigned")]
    wants_state = policy.close_notice or policy.close_disconnect or policy.reopen_notice
    if wants_state and STATE not in rtype.attributes:
        return [("close_notice", f"{rtype.display_name} has no status (statecode), so it is never resolved")]
    return []


def join_problem(policy: LifecyclePolicy, join_chat: bool, type_label: str) -> str | None:
    if policy.reassign_add != "off" and not join_chat:
        return (f"adding the new owner follows the rules of Join, and joining chats is off for {type_label}; "
                "turn Join chat on or choose no adding")
    return None


# -- what the CRM must send (issue 14 reconciles the Dataverse registrations from this) ---------------------

@dataclass(frozen=True)
class Registration:
    """One Dataverse step the lifecycle policy needs: `message` on `entity`, filtered to `columns` (Update),
    with pre- and post-images holding `image_columns` (the old value and the new owner's name)."""
    entity: str
    message: str
    columns: tuple[str, ...]
    image_columns: tuple[str, ...]


def registrations(policies: Mapping[str, LifecyclePolicy], types: Mapping[str, RecordType]
                  ) -> list[Registration]:
    """Per record type whose policy is on: Update filtered to ownerid and/or statecode+statuscode with images.
    The resolution text of a case is read from its newest incidentresolution when the closing card is
    delivered, so no step on incidentresolution is needed."""
    out = []
    for name, policy in sorted(policies.items()):
        rtype = types.get(name)
        if rtype is None or not policy.active or validate_lifecycle(rtype, policy):
            continue
        cols: list[str] = []
        if policy.reassign_notice or policy.reassign_add != "off" or policy.reassign_message_owner:
            cols.append(OWNER)
        if policy.close_notice or policy.close_disconnect or policy.reopen_notice:
            cols += [STATE, STATUS] if STATUS in rtype.attributes else [STATE]
        out.append(Registration(name, "Update", tuple(cols), tuple(cols)))
    return out


def registrations_for(settings: Settings, types: Mapping[str, RecordType]) -> list[Registration]:
    """registrations() for the saved settings: the enabled record types' policies."""
    return registrations({n: r.lifecycle for n, r in settings.record_types.items() if r.enabled}, types)


def lifecycle_needs(settings: Settings, primary_names: Mapping[str, str]) -> Iterable[StepNeed]:
    """Issue 14's reconciler contributor: per enabled type whose policy is on, an Update step filtered to the
    followed columns with images of them (merged with the key-update step of the same table)."""
    for table, rts in sorted(settings.record_types.items()):
        policy = rts.lifecycle
        cols: list[str] = []
        if policy.reassign_notice or policy.reassign_add != "off" or policy.reassign_message_owner:
            cols.append(OWNER)
        if policy.close_notice or policy.close_disconnect or policy.reopen_notice:
            cols += [STATE, STATUS]
        if rts.enabled and cols:
            yield StepNeed(table, "Update", tuple(cols), tuple(cols), "record lifecycle")


def needed_columns(policy: LifecyclePolicy, watched: Sequence[str]) -> set[str]:
    """Columns of an Update webhook the intake keeps: the watched ones and those the lifecycle follows."""
    return set(watched) | (set(COLUMNS) if policy.active else set())
