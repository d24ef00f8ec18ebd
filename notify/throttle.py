"""A Bot Connector 429 and its Retry-After, honoured by every replica, not only by the rows that got it.

Teams answers 429 when the bot goes over any of its limits: per bot per conversation (7/1 s, 8/2 s, 60/30 s,
1800/h) or per app per tenant (about 50 requests/s, counting every request: posts, replies to turns, roster
reads), and the answer does not say which. Microsoft's guidance is to back off (honour Retry-After, else
exponential backoff with jitter). The rule here:
- a 429 (or any retryable answer carrying Retry-After) holds that conversation, in every replica, until the
  Retry-After ends (without one, for the failed rows' own backoff);
- when TENANT_CHATS different conversations of one tenant have been held within TENANT_WINDOW (any replicas'), the
  tenant's budget is the likely cause, so the whole tenant is held until the latest of their ends. Each chat is
  paced here on its own, so several reaching their limits at once is unlikely; the tenant's 50/s is shared with
  traffic this pacing does not count (replies to turns, roster reads, a second deployment of the same app).
One 429 alone never holds the tenant: a wrong guess there would delay every chat of it for one chat's limit.

The durable record is store/send_blocks.py (claims skip held chats); this keeps the holds in memory so rows a
worker already holds wait too: its own 429s at once, other replicas' by their NOTIFY (`heard`)."""
from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime, timedelta

from domain.ports import Outbox
from store.send_blocks import TENANT, parse

log = logging.getLogger(__name__)


class Throttle:
    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox
        self._until: dict[tuple[str, str], float] = {}  # (tenant, chat, or TENANT for all) -> monotonic end
        self._loading: asyncio.Task[None] | None = None

    def until(self, tenant_id: str, chat_id: str) -> float:
        """The monotonic moment before which nothing may be posted to this chat (0.0: no hold)."""
        return max(self._until.get((tenant_id, chat_id), 0.0), self._until.get((tenant_id, TENANT), 0.0))

    def hold(self, tenant_id: str, chat_id: str, until: float) -> None:
        """Hold a chat (TENANT: the tenant) until `until`, in wall-clock epoch seconds (what replicas share)."""
        end, key = time.monotonic() + until - time.time(), (tenant_id, chat_id)
        if end > self._until.get(key, 0.0):
            self._until[key] = end

    async def throttled(self, tenant_id: str, chat_id: str, wait: float) -> None:
        """This replica was told to wait `wait` s in this chat: hold it here at once, then for every replica."""
        until = datetime.now(UTC) + timedelta(seconds=wait)
        self.hold(tenant_id, chat_id, until.timestamp())
        try:
            tenant_until = await self.outbox.block(tenant_id, chat_id, until)
        except Exception:  # the failed rows still carry their wait; only other replicas' posts are not held
            log.exception("recording a send block for chat %s failed", chat_id)
            return
        if tenant_until is not None:
            log.warning("tenant %s: several chats throttled by Teams at once; holding all its posts until %s",
                        tenant_id, tenant_until.isoformat())
            self.hold(tenant_id, TENANT, tenant_until.timestamp())

    def heard(self, payload: str | None) -> None:
        """A block recorded by a replica (this one too); None: the LISTEN was lost meanwhile, so read them all."""
        if payload is None:
            if self._loading is None or self._loading.done():
                self._loading = asyncio.get_running_loop().create_task(self._load())
            return
        block = parse(payload)
        if block is not None:
            self.hold(*block)

    async def _load(self) -> None:
        try:
            for tenant_id, chat_id, until in await self.outbox.blocks(datetime.now(UTC)):
                self.hold(tenant_id, chat_id, until.timestamp())
        except Exception:  # the claims still skip held chats; only rows held here already could go early
            log.exception("reading send blocks failed")

    def forget_ended(self) -> None:
        now = time.monotonic()
        self._until = {key: end for key, end in self._until.items() if end > now}
