"""The closed sets of names the service stores or sends: StrEnums, so stored values and JSON stay plain text."""
from __future__ import annotations

from enum import StrEnum


class AuditEvent(StrEnum):
    CONNECT = "connect"
    DISCONNECT = "disconnect"
    JOIN = "join"
    NEW_CHAT_UNFINISHED = "new_chat_unfinished"
    # issue 15: what the lifecycle policy did (domain/lifecycle.py)
    REASSIGNED_NOTICE = "reassigned_notice"
    CLOSED_NOTICE = "closed_notice"
    REOPENED_NOTICE = "reopened_notice"
    MEMBER_ADDED_BY_POLICY = "member_added_by_policy"
    MEMBER_ADDED_BY_BUTTON = "member_added_by_button"
    MEMBER_ADD_REFUSED = "member_add_refused"
    OWNER_MESSAGED = "owner_messaged"
    DISCONNECTED_BY_POLICY = "disconnected_by_policy"
    RECONNECTED_BY_POLICY = "reconnected_by_policy"


class RuleKind(StrEnum):
    """Where a contact-suggestion rule finds people (SUG-01)."""
    OWNER = "owner"
    TEAM_ADMIN = "team_admin"
    TEAM_MEMBERS = "team_members"
    CONNECTORS = "connectors"
    ACTIVITY = "activity"  # users who logged activity on the record (SUG-02, issue 14)
    LOOKUP = "lookup"


class AttributeType(StrEnum):
    """Dataverse AttributeType values the service treats specially."""
    STRING = "String"
    MEMO = "Memo"
    INTEGER = "Integer"
    BIGINT = "BigInt"
    MONEY = "Money"
    DECIMAL = "Decimal"
    DOUBLE = "Double"
    PICKLIST = "Picklist"
    STATE = "State"
    STATUS = "Status"
    BOOLEAN = "Boolean"
    DATETIME = "DateTime"
    LOOKUP = "Lookup"
    CUSTOMER = "Customer"
    OWNER = "Owner"


CHOICE_TYPES = frozenset({AttributeType.PICKLIST, AttributeType.STATE, AttributeType.STATUS})
LOOKUP_TYPES = frozenset({AttributeType.LOOKUP, AttributeType.CUSTOMER, AttributeType.OWNER})
