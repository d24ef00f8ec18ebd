"""The lifecycle policy's actions that touch the outside world through the ports (issue 15): who the new owner is
in Teams, whether Join's rules let them into the record's chats, adding them, and the policy's own disconnects
and reconnects. Used by the delivery worker (automatic add, disconnect) and by the "Add" button in the chats."""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime

from domain import rules
from domain.kinds import AuditEvent
from domain.lifecycle import POLICY_USER
from domain.model import Record, User
from domain.ports import AuditLog, ChatGateway, ConnectionStore, RecordSource, SettingsStore
from domain.service import now
from domain.settings import defaults_for

CACHE_SECONDS = 30.0  # one Graph licence check serves every chat of one reassignment


@dataclass(frozen=True)
class Candidate:
    """The new owner as Teams sees them; `user` is None or `refusal` set when nobody may be added."""
    name: str
    user: User | None = None
    refusal: str = ""


class LifecycleService:
    def __init__(self, records: RecordSource, connections: ConnectionStore, settings: SettingsStore,
                 audit: AuditLog, gateway: ChatGateway) -> None:
        self.records, self.connections, self.settings = records, connections, settings
        self.audit, self.gateway = audit, gateway
        self._cache: dict[tuple[str, str, str], tuple[float, Candidate]] = {}

    async def candidate(self, record_type: str, record_id: str, owner_kind: str, owner_id: str,
                        owner_name: str) -> Candidate:
        """The person to add for a new owner (a team: its administrator), checked like Join: a CRM user, write
        access to the record, join allowed for the type, a Teams licence. Raises GatewayError when Graph fails."""
        key = (record_type, record_id, f"{owner_kind}:{owner_id}")
        hit = self._cache.get(key)
        if hit and hit[0] > time.monotonic():
            return hit[1]
        found = await self._check(record_type, record_id, owner_kind, owner_id, owner_name)
        self._cache = {k: v for k, v in self._cache.items() if v[0] > time.monotonic()}
        self._cache[key] = (time.monotonic() + CACHE_SECONDS, found)
        return found

    async def _check(self, record_type: str, record_id: str, owner_kind: str, owner_id: str,
                     owner_name: str) -> Candidate:
        user = await self._person(owner_kind, owner_id)
        name = user.name if user else owner_name or "the new owner"
        if user is None:
            why = "the team has no administrator in the CRM" if owner_kind == "team" else "they aren't a CRM user"
            return Candidate(name, None, f"{owner_name or 'The new owner'} can't be added: {why}")
        if user.disabled or not user.aad_object_id:
            return Candidate(name, None, f"{name} can't be added: their CRM account is disabled or not linked "
                                         "to Microsoft Entra ID")
        record = await self.records.get_record(record_type, record_id)
        settings, _ = await self.settings.load()
        rts = settings.record_types.get(record_type) or defaults_for(record_type)
        access = await self.records.access(user, record) if record else "none"
        decision = rules.can_join(rts, access, connected=True)
        if not decision.allowed:
            return Candidate(name, None, f"{name} can't be added: {decision.reason}")
        if user.aad_object_id not in await self.gateway.licensed([user.aad_object_id]):
            return Candidate(name, None, f"{name} has no Teams licence or isn't known to Teams, so nobody was "
                                         "added")
        return Candidate(name, user)

    async def _person(self, owner_kind: str, owner_id: str) -> User | None:
        if not owner_id:
            return None
        if owner_kind == "team":
            team = await self.records.team(owner_id)
            return await self.records.user(team.administrator) if team and team.administrator else None
        return await self.records.user(owner_id)

    async def add(self, tenant_id: str, record: Record | None, record_type: str, record_id: str, chat_id: str,
                  who: Candidate, event: AuditEvent, by: str) -> str:
        """Add the checked candidate to one chat with its full history; what happened, as a sentence. Raises
        GatewayError when Graph fails (the caller retries)."""
        if who.user is None:
            await self.audit.append(AuditEvent.MEMBER_ADD_REFUSED, tenant_id, by, record_type, record_id, chat_id,
                                    now(), who.refusal)
            return who.refusal + "."
        if await self.connections.active(tenant_id, record_type, record_id, chat_id) is None:
            return "This chat is no longer connected to the record, so nobody was added."
        if await self.gateway.is_member(chat_id, who.user.aad_object_id):
            return f"{who.name} is already in this chat."
        await self.gateway.add_member(chat_id, who.user.aad_object_id)
        await self.audit.append(event, tenant_id, by, record_type, record_id, chat_id, now(), who.user.id)
        return f"{who.name} was added to this chat with its whole history."

    async def disconnect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str) -> bool:
        """The closing policy's disconnect (history kept); False when the chat was already disconnected."""
        at = now()
        conn = await self.connections.active(tenant_id, record_type, record_id, chat_id)
        done = await self.connections.disconnect(tenant_id, record_type, record_id, chat_id, POLICY_USER, at)
        if done is None:
            return False
        await self.audit.append(AuditEvent.DISCONNECTED_BY_POLICY, tenant_id, POLICY_USER, record_type, record_id,
                                chat_id, at, "closed")
        if conn and conn.synced and (record := await self.records.get_record(record_type, record_id)):
            await self.records.unlink_timeline_chat(record, chat_id, at)
        return True

    async def reconnect(self, tenant_id: str, record_type: str, record_id: str, chat_id: str, title: str,
                        at: datetime) -> None:
        _, created = await self.connections.connect(tenant_id, record_type, record_id, chat_id, POLICY_USER, at,
                                                    title)
        if created:
            await self.audit.append(AuditEvent.RECONNECTED_BY_POLICY, tenant_id, POLICY_USER, record_type, record_id,
                                    chat_id, at, "reopened")
