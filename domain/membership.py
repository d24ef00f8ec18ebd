"""Who is in which chat, asked of Teams when a page needs it and never stored: the service keeps no per-person chat
membership (the data statement at the top of README.md). Microsoft Graph answers when it is usable here, else the
Bot Connector's single-member lookup in chats the bot is in. Answers are cached in this process only, briefly and
bounded; a membership event in a chat evicts that chat's answers (other replicas keep theirs until the TTL ends)."""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from cachetools import TTLCache

from domain.chat_names import BotChat, ChatDirectory, KnownChat
from domain.model import ConversationRef
from domain.ports import ChatGateway, ConversationMembers, DeliveryError, GatewayError

log = logging.getLogger(__name__)
T = TypeVar("T")
TTL = 60.0  # seconds an answer is reused: Teams stays the truth, a page of lookups is not repeated on every view
CACHE_SIZE = 10_000  # answers kept at most (least recently used go first)
CONCURRENCY = 5  # lookups of one page in flight together: fast, without self-throttling against Teams
CANDIDATES = 30  # group chats checked for "your recent chats" when Graph cannot list a person's chats
GRAPH_CHATS = 50  # a person's chats read from Graph (one page of GET /users/{id}/chats)
Answer = bool | None  # None: Teams could not say


class Membership:
    def __init__(self, chats: ChatDirectory, connector: ConversationMembers, graph: ChatGateway | None = None, *,
                 ttl: float = TTL, size: int = CACHE_SIZE, concurrency: int = CONCURRENCY,
                 candidates: int = CANDIDATES, timer: Callable[[], float] = time.monotonic) -> None:
        """`graph`: Microsoft Graph when it can answer here (None: the Bot Connector only)."""
        self._chats, self._connector, self._graph = chats, connector, graph
        self._concurrency, self._candidates = concurrency, candidates
        self._answers: TTLCache[tuple[str, str, str], bool] = TTLCache(size, ttl, timer)
        self._chat_lists: TTLCache[tuple[str, str], tuple[str, ...]] = TTLCache(max(1, size // 10), ttl, timer)
        self._timer, self._ttl = timer, ttl
        self._lists_refused_until = float("-inf")  # Graph refused to list chats (permission not granted): not asked

    async def is_member(self, tenant_id: str, chat_id: str, aad_object_id: str) -> Answer:
        return (await self.of_chats(tenant_id, [chat_id], aad_object_id)).get(chat_id)

    async def of_chats(self, tenant_id: str, chat_ids: Sequence[str], aad_object_id: str) -> dict[str, Answer]:
        """Whether the person is in each of these chats, asked concurrently (a few at a time)."""
        person = aad_object_id.lower()
        if not person:
            return dict.fromkeys(chat_ids)
        known: dict[str, Answer] = {c: self._answers.get((tenant_id, c, person)) for c in dict.fromkeys(chat_ids)}
        misses = [c for c, answer in known.items() if answer is None]
        if misses:
            refs: dict[str, ConversationRef | None] = dict.fromkeys(misses)
            refs.update({c.ref.conversation_id: c.ref for c in await self._chats.bot_chats(tenant_id, misses,
                                                                                          len(misses))})
            known.update(await self._ask_all(tenant_id, person, refs))
        return known

    async def recent(self, tenant_id: str, aad_object_id: str, limit: int = 20) -> list[KnownChat]:
        """The person's group chats that the bot is in, most recent first: Graph's list of their chats when it can
        give one, else the bot's most recently added or connected chats where Teams says the person is a member."""
        person = aad_object_id.lower()
        if not person:
            return []
        listed = await self._graph_chats(tenant_id, person)
        if listed is not None:
            found = await self._chats.bot_chats(tenant_id, listed, len(listed))
            for chat in found:  # Graph just said so: the record page's join state needs no second question
                self._answers[(tenant_id, chat.ref.conversation_id, person)] = True
            return [_known(c) for c in found[:limit]]
        candidates = await self._chats.bot_chats(tenant_id, None, self._candidates)
        known: dict[str, Answer] = {c.ref.conversation_id: self._answers.get((tenant_id, c.ref.conversation_id,
                                                                              person)) for c in candidates}
        known.update(await self._ask_all(tenant_id, person, {c.ref.conversation_id: c.ref for c in candidates
                                                             if known[c.ref.conversation_id] is None}))
        return [_known(c) for c in candidates if known[c.ref.conversation_id]][:limit]

    def changed(self, tenant_id: str, chat_id: str, people: Sequence[str] = ()) -> None:
        """Someone joined or left the chat, or the bot did: forget this chat's answers, and the chat lists of the
        people named (of everyone in the tenant when none are)."""
        for answer in [k for k in self._answers if k[0] == tenant_id and k[1] == chat_id]:
            self._answers.pop(answer, None)
        named = {p.lower() for p in people if p}
        for listed in [k for k in self._chat_lists if k[0] == tenant_id and (not named or k[1] in named)]:
            self._chat_lists.pop(listed, None)

    async def _ask_all(self, tenant_id: str, person: str, refs: dict[str, ConversationRef | None]
                       ) -> dict[str, Answer]:
        """Ask Teams about each chat, a few at a time; remember the answers it gave (not the unknowns)."""
        chat_ids = list(refs)
        answers = await _bounded(self._concurrency, [self._ask(c, refs[c], person) for c in chat_ids])
        for chat_id, answer in zip(chat_ids, answers, strict=True):
            if answer is not None:
                self._answers[(tenant_id, chat_id, person)] = answer
        return dict(zip(chat_ids, answers, strict=True))

    async def _ask(self, chat_id: str, ref: ConversationRef | None, person: str) -> Answer:
        if self._graph is not None:
            try:
                return await self._graph.is_member(chat_id, person)
            except GatewayError as exc:  # e.g. ChatMember.Read.All not granted: the Bot Connector may still know
                log.info("chat %s: membership not read from Graph: %s", chat_id, exc)
        if ref is None:
            return None  # the bot is not in the chat: only Graph could have said
        try:
            return await self._connector.has_member(ref, person)
        except DeliveryError as exc:
            log.info("chat %s: membership not read from the Bot Connector: %s", chat_id, exc)
            return None

    async def _graph_chats(self, tenant_id: str, person: str) -> list[str] | None:
        if self._graph is None or self._timer() < self._lists_refused_until:
            return None
        cached = self._chat_lists.get((tenant_id, person))
        if cached is not None:
            return list(cached)
        try:
            listed = tuple(await self._graph.user_chats(person, GRAPH_CHATS))
        except GatewayError as exc:  # e.g. Chat.ReadBasic.All not granted: check the bot's chats one by one
            log.info("a person's chats not read from Graph (not asked again for %.0f s): %s", self._ttl, exc)
            self._lists_refused_until = self._timer() + self._ttl
            return None
        self._chat_lists[(tenant_id, person)] = listed
        return list(listed)


def _known(chat: BotChat) -> KnownChat:
    return KnownChat(chat.ref.conversation_id, chat.name)


async def _bounded(limit: int, jobs: Sequence[Awaitable[T]]) -> list[T]:
    """Run the jobs with at most `limit` in flight; results in the jobs' order."""
    gate = asyncio.Semaphore(limit)

    async def run(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    return list(await asyncio.gather(*(run(j) for j in jobs)))
