"""Connect, disconnect and list: the agent-facing operations, enforcing domain.rules through the ports."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from domain import rules
from domain.chat_names import UNTITLED, ChatDirectory
from domain.kinds import AuditEvent
from domain.membership import Membership
from domain.model import Connection, ConversationRef, Record, RecordType, RoleGrant, State, User
from domain.ports import AuditLog, ConnectionStore, GatewayError, RecordSource, SettingsStore
from domain.profiles import ProfileSource, assignment_matters, org_profiles_allow
from domain.results import (
    ChatContext,
    ChatItem,
    ChatList,
    Connected,
    ContextNote,
    Disconnected,
    RecordItem,
    RecordList,
    Refusal,
)
from domain.settings import RecordTypeSettings, Settings, defaults_for


def now() -> datetime:
    return datetime.now(UTC)


class ChatService:
    def __init__(self, records: RecordSource, connections: ConnectionStore, settings: SettingsStore,
                 audit: AuditLog, chat_directory: ChatDirectory | None = None,
                 membership: Membership | None = None) -> None:
        self._records = records
        self._connections = connections
        self._settings = settings
        self._audit = audit
        self.chat_directory = chat_directory  # chat names and the chats the bot is in, when wired
        self.membership = membership  # who is in which chat, asked of Teams (never stored), when wired

    @property
    def records(self) -> RecordSource:
        """The CRM (read-only port), for the doors' lookups of users and record types."""
        return self._records

    # -- lookups shared by every operation ------------------------------------------------------------

    async def actor(self, ctx: ChatContext) -> tuple[User, Settings]:
        settings, _ = await self._settings.load()
        if not settings.teams_chat_enabled:
            raise Refusal("Teams chats for records are turned off by your administrator.")
        if not settings.app_enabled(ctx.app):
            raise Refusal(f"Teams chats for records are not turned on for the app {ctx.app!r}." if ctx.app else
                          "Teams chats for records are not turned on for any app.")
        user = await self._records.user_by_aad(ctx.user_aad) if ctx.user_aad else None
        if user is None:
            raise Refusal("I don't know you in the CRM yet: ask your administrator to add your account "
                          "(your Microsoft Entra object id must match a CRM user).")
        if user.disabled:
            raise Refusal("Your CRM account is disabled, so I can't act for you.")
        if not await self.profile_allows(settings, user):
            raise Refusal("Teams chats for records are turned off for your profile.")
        return user, settings

    async def profile_allows(self, settings: Settings, user: User) -> bool:
        """EN-03 from the chosen profile source. The org's profiles are asked of the CRM only when some profile
        has Teams chats off; when the CRM cannot say, the agent is told so (a profile turned off must not be
        bypassed by an outage, and an error must not read as "turned off")."""
        if settings.profile_source != ProfileSource.ORG:
            return settings.user_enabled(user.id)
        if not assignment_matters(settings.org_profiles):
            return True
        try:
            assigned = await self._records.user_app_profiles(user.id)
        except GatewayError as exc:
            raise Refusal(f"I couldn't read your agent experience profile from the CRM, so I can't tell whether "
                          f"Teams chats are on for you ({exc}). Try again in a minute.") from None
        return org_profiles_allow(settings.org_profiles, assigned)

    async def resolve(self, type_name: str, key: str, agent: User | None = None) -> tuple[RecordType, Record]:
        """The record type and record; read as `agent` when given (what the agent may see, e.g. for a card)."""
        rtype = await self._records.record_type(type_name)
        if rtype is None:
            names = ", ".join(sorted(t.display_name.lower() for t in await self._records.record_types()))
            raise Refusal(f"I don't know the record type {type_name!r}. Try one of: {names}.")
        source = self._records.acting_as(agent) if agent else self._records
        try:
            record = await source.get_record(rtype.logical_name, key)
        except GatewayError as exc:
            raise Refusal(f"I couldn't read that {rtype.display_name.lower()} for you: {exc}") from None
        if record is None:
            raise Refusal(f"No {rtype.display_name.lower()} {key!r} was found.")
        return rtype, record

    async def readable(self, user: User, record: Record, rtype: RecordType) -> str:
        access = await self._records.access(user, record)
        if access == "none":
            raise Refusal(f"You don't have access to this {rtype.display_name.lower()}.")
        return access

    @staticmethod
    def enabled_type(settings: Settings, rtype: RecordType) -> RecordTypeSettings:
        rts = settings.for_type(rtype.logical_name)
        if rts is None:
            raise Refusal(not_enabled(rtype))
        return rts

    @staticmethod
    def type_settings(settings: Settings, rtype: RecordType) -> RecordTypeSettings:
        return settings.record_types.get(rtype.logical_name) or defaults_for(rtype.logical_name)

    # -- operations -------------------------------------------------------------------------------------

    async def connect(self, ctx: ChatContext, type_name: str, key: str, chat_title: str = "") -> Connected:
        if ctx.conversation_type != "groupChat":
            raise Refusal(_not_group(ctx.conversation_type))
        user, settings = await self.actor(ctx)
        rtype, record = await self.resolve(type_name, key, user)
        self.enabled_type(settings, rtype)
        await self.readable(user, record, rtype)
        conn, created, note = await self.link_chat(ctx, ctx.conversation_id, chat_title, user, settings, rtype, record)
        return Connected(record, rtype, conn, created, note, user.name)

    async def link_chat(self, ctx: ChatContext, chat_id: str, title: str, user: User, settings: Settings,
                        rtype: RecordType, record: Record, detail: str = ""
                        ) -> tuple[Connection, bool, ContextNote | None]:
        """Link a chat the bot is in to a record (connect and new chats): remember where to post, connect,
        audit, add to the record's timeline; the context note when newly connected and the type wants one."""
        await self._connections.save_conversation(
            ConversationRef(ctx.service_url, chat_id, ctx.tenant_id, ctx.bot_id), title)
        at = now()
        conn, created = await self._connections.connect(ctx.tenant_id, rtype.logical_name, record.id, chat_id,
                                                        user.id, at, title)
        if not created:
            return conn, False, None
        await self._audit.append(AuditEvent.CONNECT, ctx.tenant_id, user.id, rtype.logical_name, record.id,
                                 chat_id, at, detail)
        if settings.timeline_sync:
            await self._records.add_timeline_chat(record, chat_id, user, at)
            await self._connections.mark_synced(conn.id)
        rts = settings.for_type(rtype.logical_name)
        return conn, True, self.note(rtype, rts, record) if rts and rts.include_note else None

    def note(self, rtype: RecordType, rts: RecordTypeSettings, record: Record) -> ContextNote:
        fields = rules.card_fields(rtype, rules.chosen_view(rtype, rts), record)
        return ContextNote(rtype.display_name, record.name, record.url, fields, rtype.logical_name, record.id)

    async def disconnect(self, ctx: ChatContext, type_name: str | None, key: str | None,
                         chat_id: str | None = None) -> Disconnected:
        chat = chat_id or ctx.conversation_id
        user, settings = await self.actor(ctx)
        if type_name is None or key is None:
            active = await self._connections.for_chat(ctx.tenant_id, chat)
            if len(active) != 1:
                raise Refusal("This chat isn't connected to any record." if not active else
                              "This chat is connected to several records: say which one, "
                              "e.g. `disconnect case CAS-01001`.")
            type_name, key = active[0].record_type, active[0].record_id
        rtype, record = await self.resolve(type_name, key)
        conn = await self._connections.active(ctx.tenant_id, rtype.logical_name, record.id, chat)
        if conn is None:
            raise Refusal(f"This chat isn't connected to {rtype.display_name.lower()} {record.name!r}.")
        decision = await self.disconnect_decision(user, settings, rtype, record, conn)
        if not decision.allowed:
            raise Refusal(f"You can't disconnect this chat: {decision.reason}.")
        at = now()
        done = await self._connections.disconnect(ctx.tenant_id, rtype.logical_name, record.id, chat, user.id, at)
        if done is None:
            raise Refusal("Someone else disconnected this chat a moment ago.")
        await self._audit.append(AuditEvent.DISCONNECT, ctx.tenant_id, user.id, rtype.logical_name, record.id, chat,
                                 at)
        if conn.synced:
            await self._records.unlink_timeline_chat(record, chat, at)
        return Disconnected(record, rtype, done, user.name)

    async def disconnect_decision(self, user: User, settings: Settings, rtype: RecordType, record: Record,
                                  conn: Connection) -> rules.Decision:
        grant = self._records.role_grant
        privileges = await self._records.privileges(user) if grant is RoleGrant.CRM else frozenset()
        privileged = rules.holds_disconnect_grant(grant, user.roles, settings.disconnect_roles, privileges)
        # Only one active row per record and chat exists and a reconnect adds a newer one, so an active row's
        # connector is the most recent one; only history rows need the query.
        last = conn.connected_by if conn.state is State.CONNECTED else await self._connections.last_connector(
            conn.tenant_id, conn.record_type, conn.record_id, conn.chat_id)
        return rules.can_disconnect(privileged, rules.is_owner(record, user.id, user.teams), last == user.id,
                                    self.type_settings(settings, rtype))

    async def records_of_chat(self, ctx: ChatContext) -> RecordList:
        user, settings = await self.actor(ctx)
        items = []
        for conn in await self._connections.for_chat(ctx.tenant_id, ctx.conversation_id):
            rtype = await self._records.record_type(conn.record_type)
            record = await self._records.get_record(conn.record_type, conn.record_id) if rtype else None
            if rtype is None or record is None:
                continue
            decision = await self.disconnect_decision(user, settings, rtype, record, conn)
            items.append(RecordItem(record, rtype.display_name, await self._name(conn.connected_by),
                                    conn.connected_at, decision.allowed))
        return RecordList(ctx.conversation_id, items)

    async def chats_of_record(self, ctx: ChatContext, type_name: str, key: str, join_view: bool = False) -> ChatList:
        """A record's connected chats with the caller's disconnect, join and membership state (the `chats` command,
        the join view, the record view). Asked from inside a group chat, the caller is in that one."""
        user, settings = await self.actor(ctx)
        rtype, record = await self.resolve(type_name, key, user)
        here = ctx.conversation_id if ctx.conversation_type == "groupChat" else ""
        return await self.record_chats(ctx.tenant_id, user, settings, rtype, record, join_view, here)

    async def record_chats(self, tenant_id: str, user: User, settings: Settings, rtype: RecordType, record: Record,
                           join_view: bool = False, here: str = "") -> ChatList:
        """chats_of_record for a caller and record already looked up; refuses a record the user can't read."""
        access = await self.readable(user, record, rtype)
        rts = self.type_settings(settings, rtype)
        conns = await self._connections.for_record(tenant_id, rtype.logical_name, record.id)
        # Members see their chat as theirs whatever the join rules say (JOIN-02 locks it for non-members).
        members = await self.members(tenant_id, user.aad_object_id, [c.chat_id for c in conns if c.chat_id != here])
        items = []
        for conn in conns:
            decision = await self.disconnect_decision(user, settings, rtype, record, conn)
            join = rules.can_join(rts, access, connected=True)
            is_member = True if conn.chat_id == here else members.get(conn.chat_id)
            items.append(ChatItem(conn.chat_id, conn.chat_title or UNTITLED, await self._name(conn.connected_by),
                                  conn.connected_at, decision.allowed, is_member, join.allowed, join.reason,
                                  decision.reason))
        enabled = settings.for_type(rtype.logical_name) is not None
        return ChatList(record, rtype, items, join_view=join_view, access=access,
                        join_enabled=rts.join_chat, connect_refusal="" if enabled else not_enabled(rtype))

    async def chat_activity(self, ctx: ChatContext, at: datetime) -> bool:
        """SYNC-02: a message was seen in a chat: record its sender and time on synced timelines (never its text).
        Whether anything was written."""
        settings, _ = await self._settings.load()
        if not settings.timeline_sync or ctx.conversation_type != "groupChat":
            return False
        synced = [c for c in await self._connections.for_chat(ctx.tenant_id, ctx.conversation_id) if c.synced]
        if not synced:
            return False  # an unconnected chat costs one indexed read and no write
        sender = ctx.user_name
        if ctx.user_aad and (user := await self._records.user_by_aad(ctx.user_aad)):
            sender = user.name
        for conn in synced:
            await self._records.touch_timeline_chat(conn.record_type, conn.record_id, conn.chat_id, sender, at)
        return True

    async def bot_added(self, ctx: ChatContext, title: str) -> None:
        """The bot was added to a chat: remember where to post there."""
        await self._connections.save_conversation(
            ConversationRef(ctx.service_url, ctx.conversation_id, ctx.tenant_id, ctx.bot_id), title)

    async def bot_removed(self, ctx: ChatContext) -> None:
        """The bot was removed from a chat: stop posting there (its connections stay, as history)."""
        await self._connections.mark_bot_removed(ctx.tenant_id, ctx.conversation_id, now())

    # -- queries and records for the doors and CollabService ----------------------------------------------------

    async def app_name(self, app_id: str) -> str | None:
        """The name of a CRM app (e.g. from a record link's appid), or None when the CRM doesn't know it."""
        return await self._records.app_name(app_id)

    async def load_settings(self) -> tuple[Settings, str]:
        return await self._settings.load()

    async def save_settings(self, settings: Settings, if_match: str | None) -> str:
        return await self._settings.save(settings, if_match)

    async def find_record(self, type_name: str, key: str, agent: User | None = None
                          ) -> tuple[RecordType, Record] | None:
        """A record by type and key, or None; no refusal (the tab API answers 404). Read as `agent` when given;
        GatewayError when the CRM refuses to read it as the agent."""
        rtype = await self._records.record_type(type_name)
        source = self._records.acting_as(agent) if agent else self._records
        record = await source.get_record(rtype.logical_name, key) if rtype else None
        return (rtype, record) if rtype and record else None

    async def conversation(self, tenant_id: str, chat_id: str) -> ConversationRef | None:
        return await self._connections.conversation(tenant_id, chat_id)

    async def active_connection(self, tenant_id: str, record_type: str, record_id: str,
                                chat_id: str) -> Connection | None:
        return await self._connections.active(tenant_id, record_type, record_id, chat_id)

    async def connection_history(self, tenant_id: str, record_type: str, record_id: str) -> Sequence[Connection]:
        """Every connection of a record, disconnected ones included."""
        return await self._connections.for_record(tenant_id, record_type, record_id, True)

    async def record_event(self, event: AuditEvent, ctx: ChatContext, user: User, rtype: RecordType,
                           record: Record, chat_id: str, detail: str = "") -> None:
        await self._audit.append(event, ctx.tenant_id, user.id, rtype.logical_name, record.id, chat_id, now(),
                                 detail)

    async def audit_events(self, filters: dict[str, str], limit: int) -> Sequence[dict[str, Any]]:
        return await self._audit.query(filters, limit)

    async def members(self, tenant_id: str, aad_object_id: str, chat_ids: Sequence[str]) -> dict[str, bool | None]:
        """Whether the person is in each chat, as Teams says now (None: unknown, or no membership wired)."""
        if self.membership is None or not aad_object_id or not chat_ids:
            return {}
        return await self.membership.of_chats(tenant_id, chat_ids, aad_object_id)

    async def is_member(self, tenant_id: str, chat_id: str, aad_object_id: str) -> bool | None:
        return (await self.members(tenant_id, aad_object_id, [chat_id])).get(chat_id)

    def membership_changed(self, tenant_id: str, chat_id: str, people: Sequence[str] = ()) -> None:
        """People joined or left the chat (or the bot did): earlier answers about it no longer hold."""
        if self.membership is not None:
            self.membership.changed(tenant_id, chat_id, people)

    async def _name(self, user_id: str) -> str:
        user = await self._records.user(user_id)
        return user.name if user else user_id


def not_enabled(rtype: RecordType) -> str:
    return (f"Chats can't be connected to {rtype.display_name.lower()} records: "
            "your administrator hasn't turned that record type on.")


def _not_group(conversation_type: str) -> str:
    where = "a channel" if conversation_type == "channel" else "a one-to-one chat"
    return (f"Only group chats can be connected to records, and this is {where}. "
            "Start a new connected group chat instead, e.g. `new case CAS-01001-K7R2M8 with @Megan`, "
            "or list a record's chats, e.g. `chats case CAS-01001-K7R2M8`.")
