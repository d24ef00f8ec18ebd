"""What the service hands back to the doors (bot, tabs). Templates in cards/ turn these into Adaptive Cards."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.model import Connection, Record, RecordType


@dataclass(frozen=True)
class ChatContext:
    """Who is asking, from which conversation. Built by a door; no Teams types leak in."""
    tenant_id: str
    conversation_id: str
    conversation_type: str  # personal | groupChat | channel
    user_aad: str
    user_name: str = ""
    service_url: str = ""
    bot_id: str = ""
    app: str | None = None


class Refusal(Exception):
    """A request the rules turn down; the message is shown to the user as it is."""


@dataclass(frozen=True)
class Notice:
    text: str
    ok: bool = True


@dataclass(frozen=True)
class ContextNote:
    type_label: str
    name: str
    url: str
    fields: list[tuple[str, str]]
    record_type: str = ""
    record_id: str = ""


@dataclass(frozen=True)
class Connected:
    record: Record
    rtype: RecordType
    connection: Connection
    created: bool
    note: ContextNote | None
    by_name: str = ""


@dataclass(frozen=True)
class Disconnected:
    record: Record
    rtype: RecordType
    connection: Connection
    by_name: str = ""


@dataclass(frozen=True)
class ChatItem:
    chat_id: str
    title: str
    connected_by: str
    connected_at: datetime
    can_disconnect: bool
    is_member: bool | None = None
    can_join: bool = False
    locked_reason: str = ""
    disconnect_reason: str = ""


@dataclass(frozen=True)
class ChatList:
    record: Record
    rtype: RecordType
    chats: list[ChatItem] = field(default_factory=list)
    join_view: bool = False
    access: str = ""
    join_enabled: bool = False
    connect_refusal: str = ""  # why chats can't be connected to this record type; "" when they can


@dataclass(frozen=True)
class RecordItem:
    record: Record
    type_label: str
    connected_by: str
    connected_at: datetime
    can_disconnect: bool


@dataclass(frozen=True)
class RecordList:
    chat_id: str
    items: list[RecordItem] = field(default_factory=list)
