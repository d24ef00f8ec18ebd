"""Join connected chats, start new connected chats, suggest people: the operations that need Microsoft Graph."""
from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from domain import rules
from domain.kinds import AuditEvent, RuleKind
from domain.model import ConversationRef, Record, RecordType, User
from domain.ports import ChatGateway, DeliveryError, GatewayError
from domain.results import ChatContext, ChatList, ContextNote, Refusal
from domain.service import ChatService, now
from domain.settings import ContactRule, RecordTypeSettings
from domain.similar import section as similar_section
from domain.similar_contacts import SimilarContacts
from domain.worked_on import activity_loggers, chat_connectors, worked_on

PER_SECTION = 3


@dataclass(frozen=True)
class Person:
    user: User
    presence: str = ""
    licensed: bool | None = True  # None: Graph's licence check failed, so not known to be licensed
    reason: str = ""  # why this person is suggested (the similar-cases section explains its ranking)


@dataclass(frozen=True)
class Section:
    rule: str
    people: list[Person]
    more: int = 0  # how many more the "more" action would show


@dataclass(frozen=True)
class Suggestions:
    record: Record
    rtype: RecordType
    sections: list[Section] = field(default_factory=list)
    licence_problem: str = ""  # why Teams licences could not be checked; the card says so


@dataclass(frozen=True)
class NewChat:
    record: Record
    rtype: RecordType
    chat_id: str
    topic: str
    members: list[Person]
    note: ContextNote | None
    finished: bool = True
    problem: str = ""


Announce = Callable[[ConversationRef, ContextNote], Awaitable[None]]


class CollabService:
    def __init__(self, chats: ChatService, gateway: ChatGateway, announce: Announce,
                 similar: SimilarContacts | None = None) -> None:
        self.chats = chats
        self.gateway = gateway
        self.announce = announce  # posts the context card into a chat as the bot
        self.similar = similar

    async def join_view(self, ctx: ChatContext, type_name: str, key: str) -> ChatList:
        """JOIN-02: the record's connected chats, each joinable or locked with the reason (membership unknown:
        the Join button stays and the join itself reports the problem)."""
        return await self.chats.chats_of_record(ctx, type_name, key, join_view=True)

    async def join(self, ctx: ChatContext, record_type: str, record_id: str, chat_id: str) -> str:
        user, settings = await self.chats.actor(ctx)
        rtype, record = await self.chats.resolve(record_type, record_id)
        conn = await self.chats.active_connection(ctx.tenant_id, rtype.logical_name, record.id, chat_id)
        access = await self.chats.records.access(user, record)
        decision = rules.can_join(self.chats.type_settings(settings, rtype), access, conn is not None)
        if not decision.allowed:
            raise Refusal(f"The chat is locked: {decision.reason}.")
        try:
            if await self.gateway.is_member(chat_id, ctx.user_aad):
                return "You're already in this chat; open it from your Teams chat list."
            await self.gateway.add_member(chat_id, ctx.user_aad)
        except GatewayError as exc:
            raise Refusal(f"I couldn't add you to the chat: {exc} Press Join to try again.") from None
        self.chats.membership_changed(ctx.tenant_id, chat_id, [ctx.user_aad])
        await self.chats.record_event(AuditEvent.JOIN, ctx, user, rtype, record, chat_id)
        title = conn.chat_title if conn and conn.chat_title else "the chat"
        return f"You've been added to {title} with its whole history. Open it from your Teams chat list."

    async def new_chat(self, ctx: ChatContext, type_name: str, key: str, people: Sequence[User],
                       topic: str | None) -> NewChat:
        """NEW-01..03: create the group chat, install the bot, connect it, post the context card."""
        user, settings = await self.chats.actor(ctx)
        rtype, record = await self.chats.resolve(type_name, key, user)
        rts = self.chats.enabled_type(settings, rtype)
        await self.chats.readable(user, record, rtype)
        others = _dedupe([p for p in people if p.aad_object_id != user.aad_object_id])
        if not others:
            raise Refusal("Add at least one colleague: `new case CAS-01001 with @Megan`.")
        if len(others) + 1 > rules.CHAT_MAX_MEMBERS:
            raise Refusal(f"A Teams group chat can have at most {rules.CHAT_MAX_MEMBERS} people.")
        title = rules.chat_topic(topic, rts.auto_name, record, [p.name for p in [user, *others]])
        try:
            chat_id = await self.gateway.create_chat(title, [user.aad_object_id, *(p.aad_object_id for p in others)])
        except GatewayError as exc:
            raise Refusal(f"I couldn't create the chat: {exc}") from None
        result = NewChat(record, rtype, chat_id, title, [Person(p) for p in [user, *others]], None)
        return await self.finish(ctx, result, user)

    async def finish(self, ctx: ChatContext, chat: NewChat, user: User) -> NewChat:
        """Install the bot and connect; a failure is reported with the chat id so the agent can finish later."""
        try:
            await self.gateway.install_app(chat.chat_id)
        except GatewayError as exc:
            # Recorded, so the chat is not lost if the agent never presses "Finish setup" (the audit lists it).
            await self.chats.record_event(AuditEvent.NEW_CHAT_UNFINISHED, ctx, user, chat.rtype, chat.record,
                                          chat.chat_id, str(exc))
            return _unfinished(chat, f"the chat was created but I couldn't be added to it ({exc})")
        settings, _ = await self.chats.load_settings()
        _, _, note = await self.chats.link_chat(ctx, chat.chat_id, chat.topic, user, settings, chat.rtype,
                                                chat.record, "new chat")
        if note:
            try:
                await self.announce(ConversationRef(ctx.service_url, chat.chat_id, ctx.tenant_id, ctx.bot_id), note)
            except DeliveryError as exc:
                return _unfinished(chat, f"the chat is connected but its context card was not posted ({exc})")
        presence = await self._presence([p.user.aad_object_id for p in chat.members])
        members = [Person(p.user, presence.get(p.user.aad_object_id, "")) for p in chat.members]
        return NewChat(chat.record, chat.rtype, chat.chat_id, chat.topic, members, note)

    async def suggest(self, ctx: ChatContext, type_name: str, key: str, only: str | None = None) -> Suggestions:
        """SUG-01..03: people per rule in the admin's order, licensed for Teams, with presence."""
        user, settings = await self.chats.actor(ctx)
        rtype, record = await self.chats.resolve(type_name, key)
        await self.chats.readable(user, record, rtype)
        rts = self.chats.type_settings(settings, rtype)
        seen, reasons = {user.id}, {}
        raw: list[tuple[str, list[User]]] = []
        for name, found in await self._sections(ctx, rts, rtype, record, only):
            people = [u for u, _ in found if u.id not in seen and not u.disabled]
            seen.update(p.id for p in people)
            reasons.update({u.id: why for u, why in found if why})
            raw.append((name, people))
        licensed, problem = await self._licensed([p.aad_object_id for _, people in raw for p in people])
        sections = []
        for name, people in raw:
            people = [p for p in people if licensed is None or p.aad_object_id in licensed]
            if people and (only is None or only == name):
                cap = len(people) if only else PER_SECTION
                sections.append((name, people[:cap], max(0, len(people) - cap)))
        presence = await self._presence([p.aad_object_id for _, people, _ in sections for p in people])
        known = licensed is not None
        return Suggestions(record, rtype, [
            Section(n, [Person(p, presence.get(p.aad_object_id, ""), known or None, reasons.get(p.id, ""))
                        for p in ps], m) for n, ps, m in sections], problem)

    async def _sections(self, ctx: ChatContext, rts: RecordTypeSettings, rtype: RecordType, record: Record,
                        only: str | None) -> list[tuple[str, list[tuple[User, str]]]]:
        """(name, [(user, reason)]) in the admin's order: the rules, the similar-cases section first or last."""
        rules_part: list[tuple[str, list[tuple[User, str]]]] = [
            (rule.name, [(u, "") for u in await self._candidates(ctx, rule, record)])
            for rule in rts.contact_rules[:10]]
        name = similar_section(rtype.logical_name)
        if self.similar is None or (only not in (None, name) and not rts.similar_first):
            return rules_part  # a later section cannot change who the asked-for section shows
        similar = [(name, await self.similar.people(rtype, rts, record, now()))]
        return similar + rules_part if rts.similar_first else rules_part + similar

    async def _candidates(self, ctx: ChatContext, rule: ContactRule, record: Record) -> list[User]:
        src = self.chats.records
        owner = record.owner
        if rule.kind == RuleKind.OWNER and owner and owner.kind == "systemuser":
            return _some([await src.user(owner.id)])
        if rule.kind in (RuleKind.TEAM_ADMIN, RuleKind.TEAM_MEMBERS) and owner and owner.kind == "team":
            team = await src.team(owner.id)
            if team is None:
                return []
            if rule.kind == RuleKind.TEAM_ADMIN:
                ids = [team.administrator] if team.administrator else []
            else:  # SUG-02: only the members who worked on the record (logged activity or connected a chat)
                worked = await worked_on(src, record, await self._connectors(ctx, record))
                ids = [m for m in team.members if m in worked]
            return _some([await src.user(i) for i in ids])
        if rule.kind == RuleKind.CONNECTORS:
            return _some([await src.user(i) for i in await self._connectors(ctx, record)])
        if rule.kind == RuleKind.ACTIVITY:
            return _some([await src.user(i) for i in await activity_loggers(src, record)])
        if rule.kind == RuleKind.LOOKUP and rule.path:
            return _some([await src.lookup_user(record, rule.path[:10])])
        return []

    async def _connectors(self, ctx: ChatContext, record: Record) -> list[str]:
        return chat_connectors(await self.chats.connection_history(ctx.tenant_id, record.type, record.id))

    async def _licensed(self, ids: list[str]) -> tuple[set[str] | None, str]:
        """Who has a Teams licence; (None, why) when Graph could not say: people are then shown as unchecked,
        never as licensed."""
        if not ids:
            return set(), ""
        try:
            return await self.gateway.licensed(list(dict.fromkeys(ids))), ""
        except GatewayError as exc:
            return None, f"Teams licences could not be checked ({exc}), so these people may not be able to chat."

    async def _presence(self, ids: list[str]) -> dict[str, str]:
        if not ids:
            return {}
        try:
            return await self.gateway.presence(list(dict.fromkeys(ids)))
        except GatewayError:
            return {}


def _some(users: Sequence[User | None]) -> list[User]:
    return [u for u in users if u is not None]


def _dedupe(users: Sequence[User]) -> list[User]:
    return list({u.aad_object_id: u for u in users}.values())


def _unfinished(chat: NewChat, problem: str) -> NewChat:
    return NewChat(chat.record, chat.rtype, chat.chat_id, chat.topic, chat.members, chat.note, False, problem)
