"""Keeps chat names and membership current from what Teams sends: the topic of a conversationUpdate (renames
included), the members added and removed, and the senders of messages. When the bot arrives in a chat, or sees
a chat it has no name for, it reads the chat's topic (Microsoft Graph, GET /chats/{id}) and its members (Bot
Connector, pagedmembers) in the background, so an untitled chat is named like Teams names it."""
from __future__ import annotations

import asyncio
import logging

from bots.router import Router
from bots.turn import Answer, Turn
from domain.chat_names import ChatDirectory
from domain.model import ConversationRef
from domain.ports import ChatGateway, ConnectionStore, DeliveryError, GatewayError
from domain.service import now
from teams.connector import ConnectorClient

log = logging.getLogger(__name__)
_running: set[asyncio.Task[None]] = set()  # strong references to background refreshes


class ChatEvents:
    def __init__(self, directory: ChatDirectory, connections: ConnectionStore, connector: ConnectorClient,
                 gateway: ChatGateway | None) -> None:
        self.directory = directory
        self.connections = connections
        self.connector = connector
        self.gateway = gateway

    async def __call__(self, turn: Turn) -> Answer:
        ctx = turn.ctx
        if ctx.conversation_type != "groupChat" or not ctx.tenant_id:
            return Answer()
        if turn.bot_removed:
            await self.directory.forget_members(ctx.tenant_id, ctx.conversation_id)
            return Answer()
        chat, at = ctx.conversation_id, now()
        ref = ConversationRef(ctx.service_url, chat, ctx.tenant_id, ctx.bot_id)
        if turn.kind == "conversationUpdate":
            if turn.topic is not None:
                await self.connections.save_conversation(ref)
                await self.directory.rename(ctx.tenant_id, chat, turn.topic)
            elif turn.chat_title:
                await self.directory.rename(ctx.tenant_id, chat, turn.chat_title)
            for person in turn.left:
                if person.aad_object_id:
                    await self.directory.left(ctx.tenant_id, chat, person.aad_object_id)
            if turn.bot_added or turn.joined or turn.left:
                self.refresh(ref, read_topic=turn.bot_added and turn.topic is None and not turn.chat_title)
            return Answer()
        if ctx.user_aad and await self.directory.seen(ctx.tenant_id, chat, ctx.user_aad, at):
            # A message from the chat proves the bot is there: keep what it needs to post, and a name.
            await self.connections.save_conversation(ref, turn.chat_title)
            if not (await self.directory.names(ctx.tenant_id, [chat])).get(chat):
                self.refresh(ref, read_topic=not turn.chat_title)
        return Answer()

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
                members = await self.connector.roster(ref.service_url, chat)
            except DeliveryError as exc:
                log.info("chat %s: members not read: %s", chat, exc)
                return
            await self.directory.set_members(tenant, chat, members, now())
        except Exception:  # a background refresh must never take the process down; the next event retries
            log.exception("chat %s: refreshing its name failed", chat)


def register(router: Router, events: ChatEvents) -> None:
    router.on_event(events)
