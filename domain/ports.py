"""What the domain needs from the outside world. Adapters in store/, records/, graph/ and bots/ implement these."""
from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from domain.model import (
    Access,
    ChangeEvent,
    Connection,
    ConversationRef,
    Record,
    RecordType,
    RoleGrant,
    Team,
    TimelineChat,
    User,
    View,
)
from domain.profiles import OrgProfile
from domain.settings import Settings
from domain.similar import Hit, IndexedCase


class RecordSource(Protocol):
    """The CRM: records, their types and views, users, teams and access. Local file or Dataverse."""

    role_grant: RoleGrant
    """Where "can disconnect any chat" comes from: the settings page's role list or the CRM's privilege."""

    def acting_as(self, user: User) -> RecordSource:
        """This source with record reads and writes made as `user`, so the CRM applies the user's own privileges
        and field-level security (Dataverse: the CallerObjectId header). Users, metadata and access checks stay
        with the service identity. The local directory has no field-level security and returns itself."""
    async def record_types(self) -> Sequence[RecordType]: ...
    async def record_type(self, name: str) -> RecordType | None:
        """By logical name, display name or alias, case-insensitive."""
    async def search_types(self, text: str, limit: int = 20) -> Sequence[tuple[str, str]]:
        """(logical name, display name) of record types whose names contain `text`: with Dataverse, any table of
        the org that has a primary name (EntityDefinitions), so an admin can add it without an operator."""
    async def views(self, record_type: str) -> Sequence[View]: ...
    async def get_record(self, record_type: str, key: str) -> Record | None:
        """By id or by number (e.g. a case's ticket number)."""
    async def search(self, types: Sequence[RecordType], text: str, limit: int,
                     owner_id: str | None = None) -> Sequence[Record]:
        """Records of these types whose number or name (Dataverse: the Quick Find columns) contains `text`,
        case-insensitive, best matches first; with empty text and an owner, that owner's records, newest first."""
    async def user_by_aad(self, aad_object_id: str) -> User | None: ...
    async def user(self, user_id: str) -> User | None: ...
    async def users_by_email(self, emails: Sequence[str]) -> Sequence[User]: ...
    async def app_name(self, app_id: str) -> str | None:
        """A model-driven app's name by its id (Dataverse appmodule; local: the directory's optional "apps")."""
    async def search_users(self, text: str, limit: int = 10) -> Sequence[User]:
        """Enabled users whose name or email contains `text` (the settings page's people picker)."""
    async def app_profiles(self) -> Sequence[OrgProfile] | None:
        """The org's active agent experience profiles, by name; None when the source has none (local directory).
        GatewayError when the CRM cannot be read."""
    async def user_app_profiles(self, user_id: str) -> frozenset[str]:
        """Ids of the active agent experience profiles the user is assigned to, as the CRM says now (cached
        briefly, never copied into the settings). GatewayError when the CRM cannot be read."""
    async def team(self, team_id: str) -> Team | None: ...
    async def access(self, user: User, record: Record) -> Access: ...
    async def privileges(self, user: User) -> frozenset[str]:
        """Privilege names the user holds through roles, direct and through teams."""
    async def roles_with_privilege(self, privilege: str) -> Sequence[str]:
        """Names of the security roles that hold this privilege (for the settings page, read-only)."""
    async def activity_owners(self, record: Record) -> Sequence[str]:
        """Ids of the users who logged activities regarding the record (owners of its activities), most recent
        first, each once (SUG-02)."""
    async def lookup_user(self, record: Record, path: Sequence[str]) -> User | None:
        """Follow a chain of lookup attributes from the record; the last must point at a user."""
    async def update_record(self, user: User, record: Record, attribute: str, value: str) -> ChangeEvent:
        """Write one attribute (after the caller's access check) and return the change it made."""
    async def add_timeline_chat(self, record: Record, chat_id: str, linked_by: User, at: datetime) -> None: ...
    async def unlink_timeline_chat(self, record: Record, chat_id: str, at: datetime) -> None: ...
    async def touch_timeline_chat(self, record_type: str, record_id: str, chat_id: str,
                                  sender: str, at: datetime) -> None: ...
    async def timeline_chats(self, record: Record) -> Sequence[TimelineChat]:
        """The chats on the record's timeline, newest link first."""


class ConnectionStore(Protocol):
    """Record <-> chat connections with their history. Connect is idempotent and race-safe."""

    async def connect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str,
                      user_id: str, at: datetime, chat_title: str = "") -> tuple[Connection, bool]:
        """Return the active connection and whether this call created it."""
    async def disconnect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str,
                         user_id: str, at: datetime) -> Connection | None: ...
    async def active(self, tenant_id: str, record_type: str, record_id: str,
                     chat_id: str) -> Connection | None: ...
    async def for_chat(self, tenant_id: str, chat_id: str) -> Sequence[Connection]: ...
    async def for_record(self, tenant_id: str, record_type: str, record_id: str,
                         include_history: bool = False) -> Sequence[Connection]: ...
    async def last_connector(self, tenant_id: str, record_type: str, record_id: str,
                             chat_id: str) -> str | None: ...
    async def save_conversation(self, ref: ConversationRef, title: str = "") -> None: ...
    async def conversation(self, tenant_id: str, chat_id: str) -> ConversationRef | None: ...
    async def mark_bot_removed(self, tenant_id: str, chat_id: str, at: datetime) -> None: ...
    async def mark_synced(self, connection_id: int) -> None: ...


class SettingsStore(Protocol):
    async def load(self) -> tuple[Settings, str]:
        """The settings and their ETag."""
    async def save(self, settings: Settings, if_match: str | None) -> str:
        """Save and return the new ETag; raise Conflict when if_match is stale."""


class AuditLog(Protocol):
    async def append(self, event: str, tenant_id: str, user_id: str, record_type: str,
                     record_id: str, chat_id: str, at: datetime, detail: str = "") -> None: ...
    async def query(self, filters: dict[str, str], limit: int = 500) -> Sequence[dict[str, Any]]: ...


class Outbox(Protocol):
    """Durable queue of messages to post; claimed under leases so replicas never double a send."""

    lease: timedelta

    async def accept(self, dedupe_key: str, items: Sequence[dict[str, Any]]) -> bool:
        """Record work atomically; False when this key was accepted before (a duplicate)."""
    async def claim(self, worker: str, limit: int, now: datetime,
                    skip_tenants: Collection[str] = ()) -> Sequence[dict[str, Any]]: ...
    async def done_many(self, ids: Sequence[int], at: datetime) -> None: ...
    async def retry_many(self, ids: Sequence[int], not_before: datetime, error: str,
                         worker: str | None = None) -> None: ...
    async def release(self, ids: Sequence[int], not_before: datetime, worker: str | None = None) -> None: ...
    async def renew(self, ids: Sequence[int], worker: str, now: datetime) -> set[int]: ...
    async def dead_many(self, ids: Sequence[int], error: str) -> None: ...
    async def skip(self, ids: Sequence[int], reason: str) -> None: ...
    async def sent_times(self, chat_ids: Collection[str], since: datetime) -> dict[str, list[datetime]]: ...
    async def conversations(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], ConversationRef]: ...
    async def counts(self) -> dict[str, Any]: ...
    async def next_due(self) -> datetime | None: ...
    async def purge(self, now: datetime) -> int: ...

    @property
    def shared_pace(self) -> bool:
        """Whether replicas share one per-tenant send pace through tenant_slot."""
    async def tenant_slot(self, tenant_id: str, delay: float, spacing: float, hold: float) -> tuple[bool, float]:
        """Reserve the tenant's next send moment across replicas: (reserved, seconds until it)."""
    async def block(self, tenant_id: str, chat_id: str, until: datetime) -> datetime | None:
        """Hold the chat (for every replica) until `until`; the end of a whole-tenant hold if this made one."""
    async def blocks(self, now: datetime) -> list[tuple[str, str, datetime]]:
        """Holds still running: (tenant, chat or '' for the whole tenant, until)."""


class ChatGateway(Protocol):
    """Microsoft Graph, as far as chats, people and presence go."""

    async def create_chat(self, topic: str | None, member_aad_ids: Sequence[str]) -> str: ...
    async def install_app(self, chat_id: str) -> None: ...
    async def is_member(self, chat_id: str, aad_object_id: str) -> bool: ...
    async def user_chats(self, aad_object_id: str, limit: int) -> Sequence[str]:
        """The person's group chats, most recent message first (ids only; GatewayError when Graph can't say)."""
    async def add_member(self, chat_id: str, aad_object_id: str) -> None: ...
    async def chat_title(self, chat_id: str) -> str: ...
    async def licensed(self, aad_object_ids: Sequence[str]) -> set[str]:
        """Which of these users have a Teams license."""
    async def presence(self, aad_object_ids: Sequence[str]) -> dict[str, str]: ...


class ConversationMembers(Protocol):
    """The Bot Connector's view of who is in a conversation the bot is in."""

    async def has_member(self, ref: ConversationRef, aad_object_id: str) -> bool:
        """Whether the person is in the conversation now; DeliveryError when Teams can't say."""


class Messenger(Protocol):
    """Posts into a chat as the bot (Bot Connector), for proactive messages."""

    async def post(self, ref: ConversationRef, card: dict[str, Any]) -> None:
        """Raise DeliveryError with a status and optional retry_after on failure."""


class SimilarCases(Protocol):
    """The similarity engine over resolved cases (SQLite FTS5 or PostgreSQL full-text search)."""

    async def search(self, record_type: str, terms: Sequence[str], exclude_id: str, since: datetime | None,
                     limit: int) -> Sequence[Hit]:
        """Resolved cases matching any of the terms, most similar first; undated resolutions are kept."""
    async def upsert(self, case: IndexedCase) -> None: ...
    async def remove(self, record_type: str, record_id: str) -> None: ...
    async def count(self, record_type: str) -> int: ...


class ResolvedCaseSource(Protocol):
    """Where resolved cases come from for a (re)index: a page at a time, resumable from the returned cursor."""

    async def resolved_cases(self, record_type: str, fields: Sequence[str], cursor: str | None
                             ) -> tuple[Sequence[IndexedCase], str | None]: ...


class Conflict(Exception):
    """The stored thing changed since the caller read it."""


class DeliveryError(Exception):
    def __init__(self, status: int, message: str = "", retry_after: float | None = None) -> None:
        super().__init__(message or f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


class GatewayError(Exception):
    """Graph (or another cloud service) failed; the message is safe to show to the user."""


class ImpersonationRefused(GatewayError):
    """The CRM would not act as the agent (unknown user, or the service lacks the delegate privilege)."""
