"""Plain data the rules work on: users, record types, records, connections."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

Access = Literal["none", "read", "write"]
ACCESS_ORDER: dict[str, int] = {"none": 0, "read": 1, "write": 2}

# Dataverse attribute types a card cannot show (CARD-03) and ones that cannot be watched (NOTIFY-03).
CARD_UNSUPPORTED = frozenset({"PartyList", "Image", "File", "MultiSelectPicklist", "Virtual", "EntityName",
                              "ManagedProperty", "CalendarRules", "Uniqueidentifier"})
WATCH_UNSUPPORTED = frozenset({"PartyList", "Image", "Integer", "File", "Virtual", "MultiSelectPicklist",
                               "EntityName", "ManagedProperty", "CalendarRules", "Uniqueidentifier"})


class RoleGrant(StrEnum):
    """Where the "can disconnect any chat" grant comes from; one source only, never both."""
    SETTINGS = "settings"  # the settings page's role list (local directory)
    CRM = "crm"            # the privilege in the CRM's security roles (Dataverse, as in Dynamics 365)


@dataclass(frozen=True)
class User:
    id: str
    aad_object_id: str
    name: str
    email: str = ""
    roles: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    disabled: bool = False


@dataclass(frozen=True)
class Team:
    id: str
    name: str
    administrator: str | None = None
    members: tuple[str, ...] = ()


@dataclass(frozen=True)
class Attribute:
    name: str
    type: str
    display_name: str
    # For lookups: the record type(s) the lookup points to (used by suggested-contact chains).
    targets: tuple[str, ...] = ()
    # For choice columns: the allowed labels (empty = free text).
    options: tuple[str, ...] = ()

    @property
    def card_supported(self) -> bool:
        return self.type not in CARD_UNSUPPORTED

    @property
    def watch_supported(self) -> bool:
        return self.type not in WATCH_UNSUPPORTED


@dataclass(frozen=True)
class View:
    name: str
    columns: tuple[str, ...]
    quick_find: bool = False
    id: str = ""


@dataclass(frozen=True)
class RecordType:
    logical_name: str
    display_name: str
    primary_name: str
    number: str | None = None
    aliases: tuple[str, ...] = ()
    attributes: dict[str, Attribute] = field(default_factory=dict)
    views: tuple[View, ...] = ()
    virtual: bool = False
    update_events: bool = True

    def names(self) -> set[str]:
        """Every name an agent may type for this type, lower-cased."""
        return {n.lower() for n in (self.logical_name, self.display_name, *self.aliases)}

    def view(self, name: str | None) -> View | None:
        return next((v for v in self.views if v.name == name), None)

    def label(self, attribute: str) -> str:
        attr = self.attributes.get(attribute)
        return attr.display_name if attr else attribute


@dataclass(frozen=True)
class Owner:
    kind: Literal["systemuser", "team"]
    id: str
    name: str = ""


@dataclass(frozen=True)
class Record:
    type: str
    id: str
    name: str
    owner: Owner | None = None
    number: str | None = None
    # Display text per attribute (formatted values: option labels, lookup names, dates as text).
    values: dict[str, Any] = field(default_factory=dict)
    url: str = ""


class State(StrEnum):
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConversationRef:
    """What the bot needs to post into a chat later, and nothing more."""
    service_url: str
    conversation_id: str
    tenant_id: str
    bot_id: str = ""


@dataclass(frozen=True)
class Connection:
    id: int
    tenant_id: str
    record_type: str
    record_id: str
    chat_id: str
    connected_by: str
    connected_at: datetime
    state: State = State.CONNECTED
    disconnected_by: str | None = None
    disconnected_at: datetime | None = None
    chat_title: str = ""
    synced: bool = False  # shown on the record's timeline (SYNC-03: only chats connected while sync was on)


@dataclass(frozen=True)
class TimelineChat:
    """A chat on a record's timeline (SYNC-01/02): who linked it and when, who wrote last and when; never text."""
    chat_id: str
    linked_by: str
    linked_on: datetime
    linked: bool = True
    unlinked_on: datetime | None = None
    last_sender: str = ""
    last_message_on: datetime | None = None


@dataclass(frozen=True)
class FieldChange:
    attribute: str
    label: str
    old: str
    new: str


@dataclass(frozen=True)
class ChangeEvent:
    """A record changed in the CRM (from a Dataverse webhook or the local source's `set`)."""
    event_id: str
    record_type: str
    record_id: str
    changed: dict[str, tuple[str, str]]
    changed_by: str
    changed_at: datetime
    tenant_id: str = ""
    new_owner: tuple[str, str] | None = None  # (systemuser | team, id) when the owner changed (issue 15)
