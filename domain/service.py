"""Connect, disconnect and list: the agent-facing operations, enforcing domain.rules through the ports."""
from __future__ import annotations

from datetime import UTC, datetime

from domain import rules
from domain.model import Connection, ConversationRef, Record, RecordType, RoleGrant, State, User
from domain.ports import AuditLog, ConnectionStore, GatewayError, RecordSource, SettingsStore
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
                 audit: AuditLog) -> None:
        self.records = records
        self.connections = connections
        self.settings = settings
        self.audit = audit

    # -- lookups shared by every operation ------------------------------------------------------------

    async def actor(self, ctx: ChatContext) -> tuple[User, Settings]:
        settings, _ = await self.settings.load()
        if not settings.teams_chat_enabled:
            raise Refusal("Teams chats for records are turned off by your administrator.")
        if not settings.app_enabled(ctx.app):
            raise Refusal(f"Teams chats for records are not turned on for the app {ctx.app!r}.")
        user = await self.records.user_by_aad(ctx.user_aad) if ctx.user_aad else None
        if user is None:
            raise Refusal("I don't know you in the CRM yet: ask your administrator to add your account "
                          "(your Microsoft Entra object id must match a CRM user).")
        if user.disabled:
            raise Refusal("Your CRM account is disabled, so I can't act for you.")
        if not settings.user_enabled(user.id):
            raise Refusal("Teams chats for records are turned off for your profile.")
        return user, settings

    async def resolve(self, type_name: str, key: str, agent: User | None = None) -> tuple[RecordType, Record]:
        """The record type and record; read as `agent` when given (what the agent may see, e.g. for a card)."""
        rtype = await self.records.record_type(type_name)
        if rtype is None:
            names = ", ".join(sorted(t.display_name.lower() for t in await self.records.record_types()))
            raise Refusal(f"I don't know the record type {type_name!r}. Try one of: {names}.")
        source = self.records.acting_as(agent) if agent else self.records
        try:
            record = await source.get_record(rtype.logical_name, key)
        except GatewayError as exc:
            raise Refusal(f"I couldn't read that {rtype.display_name.lower()} for you: {exc}") from None
        if record is None:
            raise Refusal(f"No {rtype.display_name.lower()} {key!r} was found.")
        return rtype, record

    async def readable(self, user: User, record: Record, rtype: RecordType) -> str:
        access = await self.records.access(user, record)
        if access == "none":
            raise Refusal(f"You don't have access to this {rtype.display_name.lower()}.")
        return access

    @staticmethod
    def type_settings(settings: Settings, rtype: RecordType) -> RecordTypeSettings:
        return settings.record_types.get(rtype.logical_name) or defaults_for(rtype.logical_name)

    # -- operations -------------------------------------------------------------------------------------

    async def connect(self, ctx: ChatContext, type_name: str, key: str, chat_title: str = "") -> Connected:
        if ctx.conversation_type != "groupChat":
            raise Refusal(_not_group(ctx.conversation_type))
        user, settings = await self.actor(ctx)
        rtype, record = await self.resolve(type_name, key, user)
        rts = settings.for_type(rtype.logical_name)
        if rts is None:
            raise Refusal(f"Chats can't be connected to {rtype.display_name.lower()} records: "
                          "your administrator hasn't turned that record type on.")
        await self.readable(user, record, rtype)
        await self.connections.save_conversation(
            ConversationRef(ctx.service_url, ctx.conversation_id, ctx.tenant_id, ctx.bot_id), chat_title)
        at = now()
        conn, created = await self.connections.connect(ctx.tenant_id, rtype.logical_name, record.id,
                                                       ctx.conversation_id, user.id, at, chat_title)
        if created:
            await self.audit.append("connect", ctx.tenant_id, user.id, rtype.logical_name, record.id,
                                    ctx.conversation_id, at)
            if settings.timeline_sync:
                await self.records.add_timeline_chat(record, ctx.conversation_id, user, at)
                await self.connections.mark_synced(conn.id)
        note = self.note(rtype, rts, record) if created and rts.include_note else None
        return Connected(record, rtype, conn, created, note, user.name)

    def note(self, rtype: RecordType, rts: RecordTypeSettings, record: Record) -> ContextNote:
        fields = rules.card_fields(rtype, rules.chosen_view(rtype, rts), record)
        return ContextNote(rtype.display_name, record.name, record.url, fields, rtype.logical_name, record.id)

    async def disconnect(self, ctx: ChatContext, type_name: str | None, key: str | None,
                         chat_id: str | None = None) -> Disconnected:
        chat = chat_id or ctx.conversation_id
        user, settings = await self.actor(ctx)
        if type_name is None or key is None:
            active = await self.connections.for_chat(ctx.tenant_id, chat)
            if len(active) != 1:
                raise Refusal("This chat isn't connected to any record." if not active else
                              "This chat is connected to several records: say which one, "
                              "e.g. `disconnect case CAS-01001`.")
            type_name, key = active[0].record_type, active[0].record_id
        rtype, record = await self.resolve(type_name, key)
        conn = await self.connections.active(ctx.tenant_id, rtype.logical_name, record.id, chat)
        if conn is None:
            raise Refusal(f"This chat isn't connected to {rtype.display_name.lower()} {record.name!r}.")
        decision = await self.disconnect_decision(user, settings, rtype, record, conn)
        if not decision.allowed:
            raise Refusal(f"You can't disconnect this chat: {decision.reason}.")
        at = now()
        done = await self.connections.disconnect(ctx.tenant_id, rtype.logical_name, record.id, chat, user.id, at)
        if done is None:
            raise Refusal("Someone else disconnected this chat a moment ago.")
        await self.audit.append("disconnect", ctx.tenant_id, user.id, rtype.logical_name, record.id, chat, at)
        if conn.synced:
            await self.records.unlink_timeline_chat(record, chat, at)
        return Disconnected(record, rtype, done, user.name)

    async def disconnect_decision(self, user: User, settings: Settings, rtype: RecordType, record: Record,
                                  conn: Connection) -> rules.Decision:
        grant = self.records.role_grant
        privileges = await self.records.privileges(user) if grant is RoleGrant.CRM else frozenset()
        privileged = rules.holds_disconnect_grant(grant, user.roles, settings.disconnect_roles, privileges)
        # Only one active row per record and chat exists and a reconnect adds a newer one, so an active row's
        # connector is the most recent one; only history rows need the query.
        last = conn.connected_by if conn.state is State.CONNECTED else await self.connections.last_connector(
            conn.tenant_id, conn.record_type, conn.record_id, conn.chat_id)
        return rules.can_disconnect(privileged, rules.is_owner(record, user.id, user.teams), last == user.id,
                                    self.type_settings(settings, rtype))

    async def records_of_chat(self, ctx: ChatContext) -> RecordList:
        user, settings = await self.actor(ctx)
        items = []
        for conn in await self.connections.for_chat(ctx.tenant_id, ctx.conversation_id):
            rtype = await self.records.record_type(conn.record_type)
            record = await self.records.get_record(conn.record_type, conn.record_id) if rtype else None
            if rtype is None or record is None:
                continue
            decision = await self.disconnect_decision(user, settings, rtype, record, conn)
            items.append(RecordItem(record, rtype.display_name, await self._name(conn.connected_by),
                                    conn.connected_at, decision.allowed))
        return RecordList(ctx.conversation_id, items)

    async def chats_of_record(self, ctx: ChatContext, type_name: str, key: str) -> ChatList:
        user, settings = await self.actor(ctx)
        rtype, record = await self.resolve(type_name, key, user)
        await self.readable(user, record, rtype)
        items = []
        for conn in await self.connections.for_record(ctx.tenant_id, rtype.logical_name, record.id):
            decision = await self.disconnect_decision(user, settings, rtype, record, conn)
            items.append(ChatItem(conn.chat_id, conn.chat_title or "Group chat", await self._name(conn.connected_by),
                                  conn.connected_at, decision.allowed))
        return ChatList(record, rtype, items)

    async def chat_activity(self, ctx: ChatContext, at: datetime) -> bool:
        """SYNC-02: a message was seen in a chat: record its sender and time on synced timelines (never its text).
        Whether anything was written."""
        settings, _ = await self.settings.load()
        if not settings.timeline_sync or ctx.conversation_type != "groupChat":
            return False
        synced = [c for c in await self.connections.for_chat(ctx.tenant_id, ctx.conversation_id) if c.synced]
        if not synced:
            return False  # an unconnected chat costs one indexed read and no write
        sender = ctx.user_name
        if ctx.user_aad and (user := await self.records.user_by_aad(ctx.user_aad)):
            sender = user.name
        for conn in synced:
            await self.records.touch_timeline_chat(conn.record_type, conn.record_id, conn.chat_id, sender, at)
        return True

    async def _name(self, user_id: str) -> str:
        user = await self.records.user(user_id)
        return user.name if user else user_id


def _not_group(conversation_type: str) -> str:
    where = "a channel" if conversation_type == "channel" else "a one-to-one chat"
    return (f"Only group chats can be connected to records, and this is {where}. "
            "Start a new connected group chat instead, e.g. `new case CAS-01001-K7R2M8 with @Megan`, "
            "or list a record's chats, e.g. `chats case CAS-01001-K7R2M8`.")
