"""Pure decisions from the spec: who may disconnect or join, what the context card shows, chat topics."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from domain.model import Record, RecordType, RoleGrant, View
from domain.settings import RecordTypeSettings

CARD_FIELDS = 5
DISCONNECT_PRIVILEGE = "disconnectTeamsChat"
ADMIN_ROLE = "System Administrator"
TOPIC_MAX = 250  # Teams caps a group chat topic; Graph refuses longer ones
CHAT_MAX_MEMBERS = 250


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str


def holds_disconnect_grant(grant: RoleGrant, user_roles: Sequence[str], listed_roles: Sequence[str],
                           privileges: frozenset[str]) -> bool:
    """DISC-03's privilege half, from one source: the page's role list (local directory) or the CRM's
    privilege in security roles (Dataverse). Never both: unticking a role on the page must revoke it."""
    if grant is RoleGrant.CRM:
        return DISCONNECT_PRIVILEGE in privileges
    return any(r in listed_roles for r in user_roles)


def can_disconnect(privileged: bool, is_owner: bool, is_last_connector: bool,
                   rts: RecordTypeSettings) -> Decision:
    """DISC-03: privilege OR (owner AND owner toggle) OR (last connector AND connector toggle)."""
    if privileged:
        return Decision(True, "you hold the Disconnect Teams chat privilege")
    if is_owner and rts.owner_can_disconnect:
        return Decision(True, "you own the record")
    if is_last_connector and rts.connector_can_disconnect:
        return Decision(True, "you connected this chat")
    reasons = []
    if is_owner:
        reasons.append("record owners may not disconnect chats of this record type")
    if is_last_connector:
        reasons.append("chat connectors may not disconnect chats of this record type")
    if not reasons:
        reasons.append("only the record owner, the person who connected the chat, "
                       "or someone with the Disconnect Teams chat privilege can disconnect it")
    return Decision(False, "; ".join(reasons))


def is_owner(record: Record, user_id: str, user_teams: Sequence[str]) -> bool:
    """DISC-02: the owning user, or a member of the owning team."""
    if record.owner is None:
        return False
    return record.owner.id == user_id if record.owner.kind == "systemuser" else record.owner.id in user_teams


def can_join(rts: RecordTypeSettings, access: str, connected: bool) -> Decision:
    """JOIN-01: only connected chats, only with write access, only when join is on for the type."""
    if not connected:
        return Decision(False, "the chat is not connected to this record")
    if not rts.join_chat:
        return Decision(False, "joining chats is turned off for this record type")
    if access != "write":
        return Decision(False, "you need write access to the record to join its chats")
    return Decision(True, "")


def default_view(rtype: RecordType) -> View | None:
    """CARD-06: case uses "Case introduction message"; other types their Quick Find view."""
    if rtype.logical_name == "incident" and (intro := rtype.view("Case introduction message")):
        return intro
    return next((v for v in rtype.views if v.quick_find), rtype.views[0] if rtype.views else None)


def chosen_view(rtype: RecordType, rts: RecordTypeSettings) -> View | None:
    return rtype.view(rts.view) or default_view(rtype)


def view_columns(rtype: RecordType, view: View) -> list[tuple[str, bool]]:
    """The first five columns of the view, each with whether the card can show it (CARD-02, CARD-03)."""
    out = []
    for column in view.columns[:CARD_FIELDS]:
        attr = rtype.attributes.get(column)
        out.append((column, bool(attr and attr.card_supported)))
    return out


def card_fields(rtype: RecordType, view: View | None, record: Record) -> list[tuple[str, str]]:
    """Label and value for the context card: unsupported columns skipped, not replaced; empty ones hidden."""
    if view is None:
        return []
    fields = []
    for column, supported in view_columns(rtype, view):
        value = str(record.values.get(column, "") or "").strip()
        if supported and value:
            fields.append((rtype.label(column), value))
    return fields


def chat_topic(typed: str | None, auto_name: bool, record: Record, participant_names: Sequence[str]) -> str:
    """NEW-02: a typed topic wins; else the record's name when auto-name is on; else the participants."""
    topic = (typed or "").strip()
    if not topic and auto_name:
        topic = record.name.strip()
    if not topic:
        topic = ", ".join(participant_names)
    return topic[:TOPIC_MAX]
