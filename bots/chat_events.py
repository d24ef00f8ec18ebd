"""Keeps chat names current from what Teams sends: the topic of a conversationUpdate (renames included) and, for an
untitled chat, its members' names. When the bot arrives in a chat, when people join or leave, or when a message
comes from a chat it has no name for, it reads the chat's topic (Microsoft Graph, GET /chats/{id}) and its members'
names (Bot Connector, pagedmembers) in the background, so an untitled chat is named like Teams names it. Who is in
a chat is not kept: people joining or leaving only evict this process's cached membership answers."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence

from bots.router import Router
from bots.turn import Answer, Turn
from domain.chat_names import ChatDirectory
from domain.membership import Membership
from domain.model import ConversationRef
from domain.ports import ChatGateway, ConnectionStore, DeliveryError, GatewayError
from teams.connector import ConnectorClient

log = logging.getLogger(__name__)
_running: set[asyncio.Task[None]] = set()  # strong references to background refreshes
SAVE_EVERY = 600.0  # seconds: a chat's messages refresh its conversation reference at most this often
_SAVED_MAX = 50_000


class ChatEvents:
    def __init__(self, directory: ChatDirectory, connections: ConnectionStore, connector: ConnectorClient,
                 gateway: ChatGateway | None, membership: Membership | None = None) -> None:
        self.directory = directory
        self.connections = connections
        self.connector = connector
        self.gateway = gateway
        self.membership = membership
        # Messages arrive far more often than anything here changes: per chat (never per person), in this process.
        self._saved: dict[tuple[str, str], float] = {}

    async def __call__(self, turn: Turn) -> Answer:
        ctx = turn.ctx
        if ctx.conversation_type != "groupChat" or not ctx.tenant_id:
            return Answer()
        chat = ctx.conversation_id
        if turn.bot_removed:
            self._membership_changed(ctx.tenant_id, chat, ())
            return Answer()
        if turn.kind == "conversationUpdate":
            ref = ConversationRef(ctx.service_url, chat, ctx.tenant_id, ctx.bot_id)
            if turn.topic is not None:
                await self.connections.save_conversation(ref)
                await self.directory.rename(ctx.tenant_id, chat, turn.topic)
            elif turn.chat_title:
                await self.directory.rename(ctx.tenant_id, chat, turn.chat_title)
            if turn.bot_added or turn.joined or turn.left:
                people = [p.aad_object_id for p in (*turn.joined, *turn.left)]
                self._membership_changed(ctx.tenant_id, chat, people if all(people) else ())
                self.refresh(ref, read_topic=turn.bot_added and turn.topic is None and not turn.chat_title)
            return Answer()
        if self._due(ctx.tenant_id, chat):
            # A message from the chat proves the bot is there: keep what it needs to post, and a name.
            ref = ConversationRef(ctx.service_url, chat, ctx.tenant_id, ctx.bot_id)
            await self.connections.save_conversation(ref, turn.chat_title)
            if not (await self.directory.names(ctx.tenant_id, [chat])).get(chat):
                self.refresh(ref, read_topic=not turn.chat_title)
        return Answer()

    def _membership_changed(self, tenant_id: str, chat_id: str, people: Sequence[str]) -> None:
        if self.membership is not None:
            self.membership.changed(tenant_id, chat_id, people)

    def _due(self, tenant_id: str, chat_id: str) -> bool:
        key, now = (tenant_id, chat_id), time.monotonic()
        if now - self._saved.get(key, -SAVE_EVERY) < SAVE_EVERY:
            return False
        if len(self._saved) >= _SAVED_MAX:
            self._saved.clear()
        self._saved[key] = now
        return True

    def refresh(self, ref: ConversationRef, read_topic: bool) -> None:
        task = asyncio.ensure_future(self._refresh(ref, read_topic))
        _running.add(task)
        task.add_done_callback(_running.discard)

    async def _refresh(self, ref: ConversationRef, read_topic: bool) -> None:
        tenant, chat = ref.tenant_id, ref.conversation_id
        try:
            if read_topic and self.gateway is not None:
                try:
                    topic = await self.gateway.chat_title(chat)
                except GatewayError as exc:
                    log.info("chat %s: topic not read from Graph: %s", chat, exc)
                else:
                    await self.directory.rename(tenant, chat, topic)
            try:
                names = await self.connector.member_names(ref.service_url, chat)
            except DeliveryError as exc:
                log.info("chat %s: members' names not read: %s", chat, exc)
                return
            await self.directory.name_from_members(tenant, chat, names)
        except Exception:  # a background refresh must never take the process down; the next event retries
            log.exception("chat %s: refreshing its name failed", chat)


def register(router: Router, events: ChatEvents) -> None:
    router.on_event(events)
