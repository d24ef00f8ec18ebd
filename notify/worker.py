"""Delivers the outbox: claims due rows, paces them per conversation and per tenant, posts each card through the
Bot Connector as the bot, and records the outcome right after the post returns.

One lane (a task) per conversation keeps a chat's cards in order and lets different chats post concurrently.
Rows of one record that wait in a lane together become one card. Leases (notify/claims.py) keep a row with one
worker at a time; only a crash between a successful post and its `done` write can repeat that one message."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import socket
import time
import uuid
from collections.abc import Awaitable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import telemetry
from cards.render import render
from domain.model import ConversationRef
from domain.notifications import coalesce
from domain.ports import ConnectionStore, DeliveryError, Messenger, Outbox
from notify import lifecycle as life
from notify.claims import POST_TIMEOUT, RENEW_EVERY, Claims, Row
from notify.grouping import alone, ids_of, record, row_id, take_group
from notify.notifier import from_payload
from notify.pacing import SHARED_SPACING, Pacer
from notify.throttle import Throttle

log = logging.getLogger(__name__)
T = TypeVar("T")
RETRYABLE = frozenset({401, 412, 429, 502, 503, 504})  # 401: a token refused twice; the next attempt fetches anew
GONE = frozenset({403, 404})  # BotNotInConversationRoster, or the conversation no longer exists
CLAIM_GAP = 0.05  # seconds between claims at least
HOLD_MAX = 15.0  # a row whose turn is further off than this goes back to the table rather than waiting here
MAX_IN_FLIGHT = 32  # posts awaiting an answer at once, over all chats: bounds what a crash could repeat


@dataclass
class _Lane:
    queue: list[Row] = field(default_factory=list)
    task: asyncio.Task[None] | None = None


@dataclass(frozen=True)
class _Ready:
    action: str  # send | skip | defer
    ref: ConversationRef | None = None
    wait: float = 0.0


@dataclass
class Stats:
    delivered: int = 0
    posts: int = 0
    retried: int = 0
    dead: int = 0
    skipped: int = 0
    deferred: int = 0


class DeliveryWorker:
    def __init__(self, outbox: Outbox, connections: ConnectionStore, messenger: Messenger, *,
                 worker_id: str = "", batch: int = 50, max_held: int = 1000, poll: float = 0.5,
                 max_attempts: int = 8, backoff_cap: float = 300.0, hooks: life.Hooks | None = None) -> None:
        self.outbox, self.connections, self.messenger = outbox, connections, messenger
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.batch, self.poll = batch, poll
        self.max_attempts, self.backoff_cap = max_attempts, backoff_cap
        self.pacer = Pacer()
        self.throttle = Throttle(outbox)  # a 429's Retry-After, shared with the other replicas (notify/throttle.py)
        self.stats = Stats()
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._lanes: dict[str, _Lane] = {}
        self.claims = Claims(outbox, self.pacer, self.id, max_held)
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._in_flight = asyncio.Semaphore(MAX_IN_FLIGHT)
        self._gone: dict[str, float] = {}  # chat -> when a post there said the bot is not in it
        self.hooks = hooks  # issue 15: lifecycle notice cards and the policy's actions (notify/lifecycle.py)

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-worker {self.id}")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace: float = POST_TIMEOUT + 2) -> None:
        """Stop claiming, let posts in flight finish and be recorded, hand every other held row back."""
        self._stop.set()
        self._wake.set()
        if self._task:
            await asyncio.gather(self._task, return_exceptions=True)
        tasks = [lane.task for lane in self._lanes.values() if lane.task and not lane.task.done()]
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._timer:
            self._timer.cancel()
        if self.claims.rows:
            with contextlib.suppress(Exception):  # unreleased rows fall due again when their lease ends
                await self.claims.release_all()

    async def _run(self) -> None:
        housekeeping = renewed = claimed_at = time.monotonic()
        while not self._stop.is_set():
            # Wake-ups closer together than CLAIM_GAP share one claim: one commit for a burst of webhooks.
            await self._pause(CLAIM_GAP - (time.monotonic() - claimed_at))
            claimed_at = time.monotonic()
            self._wake.clear()
            claimed = await self._guarded(self._claim(), "claiming outbox rows") or 0
            if time.monotonic() - renewed > RENEW_EVERY:
                renewed = time.monotonic()
                await self._guarded(self.claims.renew(), "renewing outbox leases")
            if claimed < self.batch:
                await self._guarded(self._wake_when_due(), "reading when the outbox is next due")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll)
            if time.monotonic() - housekeeping > 60:
                housekeeping = time.monotonic()
                await self._housekeeping()

    async def _wake_when_due(self) -> None:
        """Rows handed back for later (by this or another replica, before a restart) wake the worker when due;
        the poll is only a fallback. A row due already but not claimable now (tenant cap, a chat held after a 429)
        is looked at again in a second."""
        due = await self.outbox.next_due()
        if due is not None:
            wait = (due - datetime.now(UTC)).total_seconds()
            self._wake_in(wait if wait > 0 else 1.0)

    @staticmethod
    async def _guarded(step: Awaitable[T], what: str) -> T | None:
        """The loop outlives a database that went away: log, and try again on the next round."""
        try:
            return await step
        except Exception:
            log.exception("%s failed", what)
            return None

    async def _housekeeping(self) -> None:
        now = time.monotonic()
        self.pacer.forget_idle(now, set(self._lanes))
        self._gone = {chat: at for chat, at in self._gone.items() if at > now - 3600}
        self.throttle.forget_ended()
        await self._guarded(self.outbox.purge(datetime.now(UTC)), "purging the outbox")

    async def _claim(self) -> int:
        rows = await self.claims.claim(min(self.batch, self.claims.room()))
        for row in rows:
            lane = self._lanes.setdefault(row["chat_id"], _Lane())
            lane.queue.append(row)
            if lane.task is None:
                lane.task = asyncio.create_task(self._drain(row["chat_id"], lane))
        return len(rows)

    # -- one conversation ---------------------------------------------------------------------------------------

    async def _drain(self, chat_id: str, lane: _Lane) -> None:
        try:
            while lane.queue and not self._stop.is_set():
                if self.hooks and life.is_action(lane.queue[0]):
                    await self._perform(lane.queue.pop(0))
                    continue
                try:
                    ready = await self._ready(lane.queue[0])
                except Exception:
                    log.exception("preparing a post to chat %s failed", chat_id)
                    ready = _Ready("defer", wait=5.0)
                # Taken after the pacing wait: rows of the same record that arrived meanwhile join this card.
                group = take_group(lane.queue)
                try:
                    await self._act(group, ready)
                except Exception:
                    log.exception("delivering outbox rows %s failed", ids_of(group))
                    with contextlib.suppress(Exception):
                        await self.outbox.release(ids_of(group), datetime.now(UTC) + timedelta(seconds=5), self.id)
                finally:
                    self.claims.drop(group)
        finally:
            if not lane.queue and self._lanes.get(chat_id) is lane:
                del self._lanes[chat_id]

    async def _ready(self, head: Row) -> _Ready:
        """Whether the lane's first row can go: its chat still has the bot, and its turn in the chat's and the
        tenant's windows comes within HOLD_MAX (waited for here; the tenant slot is reserved, so every waiting
        lane sleeps once, to its own turn)."""
        tenant, chat, ref = head["tenant_id"], head["chat_id"], head["_ref"]
        if ref is None or self._gone.get(chat, -1.0) >= head["_claimed"]:
            return _Ready("skip")
        now = time.monotonic()
        wait = max(self.pacer.conversation(chat).earliest(now), self.throttle.until(tenant, chat)) - now
        if wait > HOLD_MAX:
            return _Ready("defer", wait=wait)
        if wait > 0 and not await self._pause(wait):
            return _Ready("defer")
        now = time.monotonic()
        at = max(self.pacer.slot(tenant, chat, now), self.throttle.until(tenant, chat))
        if at - now > HOLD_MAX:
            return _Ready("defer", wait=at - now)
        if self.outbox.shared_pace:  # the tenant's pace is shared with the other replicas, in the database
            reserved, wait = await self.outbox.tenant_slot(tenant, at - now, SHARED_SPACING, HOLD_MAX)
            now = time.monotonic()
            if not reserved:
                return _Ready("defer", wait=wait)
            at = now + wait
        self.pacer.take(tenant, chat, at)
        if at > now and not await self._pause(at - now):
            return _Ready("defer")
        held = self.throttle.until(tenant, chat) - time.monotonic()  # another replica's 429, heard meanwhile
        return _Ready("defer", wait=held) if held > 0 else _Ready("send", ref)

    async def _pause(self, seconds: float) -> bool:
        """Sleep, cut short by stop(); False when stopping."""
        if seconds <= 0:
            return not self._stop.is_set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)
        return not self._stop.is_set()

    async def _act(self, group: list[Row], ready: _Ready) -> None:
        ids = ids_of(group)
        if ready.action == "skip":
            self.stats.skipped += len(ids)
            await self.outbox.skip(ids, "the bot is not in this chat (removed, or never installed there)")
        elif ready.action == "defer" or ready.ref is None:
            self.stats.deferred += len(ids)
            await self.outbox.release(ids, datetime.now(UTC) + timedelta(seconds=max(0.0, ready.wait)), self.id)
            self._wake_in(ready.wait)
        else:
            await self._post(group, ready.ref)

    async def _perform(self, row: Row) -> None:
        """A lifecycle action row (issue 15): not a post, so unpaced; retried and recorded like one."""
        assert self.hooks is not None
        try:
            if self.hooks.needs_chat(row) and (row["_ref"] is None or self._gone.get(row["chat_id"], -1.0) >=
                                               row["_claimed"]):
                self.stats.skipped += 1
                await self.outbox.skip([row["id"]], "the bot is not in this chat (removed, or never installed there)")
                return
            if time.monotonic() >= self.claims.deadline([row]):  # another worker may hold it by the time it ends
                await self.outbox.release([row["id"]], datetime.now(UTC), self.id)
                return
            try:
                async with asyncio.timeout(POST_TIMEOUT):
                    await self.hooks.perform(row)
            except DeliveryError as exc:
                await self._failed([row], DeliveryError(503, str(exc)) if exc.status in GONE else exc)
                return
            except TimeoutError:
                await self._failed([row], DeliveryError(504, f"no answer within {POST_TIMEOUT:.0f} s"))
                return
            await self._record_done([row])
        except Exception:
            log.exception("lifecycle action %s failed", row["id"])
            with contextlib.suppress(Exception):
                await self.outbox.release([row["id"]], datetime.now(UTC) + timedelta(seconds=5), self.id)
        finally:
            self.claims.drop([row])

    async def _card(self, group: list[Row]) -> dict[str, Any]:
        updates = [from_payload(r["payload"]) for r in sorted(group, key=row_id)]
        if self.hooks and life.is_notice(group[0]):  # a lifecycle notice is never merged (take_group)
            return await self.hooks.card(group[0], updates[0])
        return render("update", u=coalesce(updates))

    async def _post(self, group: list[Row], ref: ConversationRef) -> None:
        try:
            card = await self._card(group)
        except DeliveryError as exc:
            await self._failed(group, exc)
            return
        async with self._in_flight:
            if time.monotonic() >= self.claims.deadline(group):  # the lease might not outlast the post
                await self._act(group, _Ready("defer"))
                return
            self.stats.posts += 1
            with telemetry.span("outbox.deliver", {"cc.tenant": ref.tenant_id, "cc.items": len(group)}) as current:
                try:
                    async with asyncio.timeout(POST_TIMEOUT):
                        await self.messenger.post(ref, card)
                except DeliveryError as exc:
                    telemetry.annotate(current, **{"cc.outcome": "failed", "http.response.status_code": exc.status})
                    await self._failed(group, exc)
                    return
                except TimeoutError:
                    telemetry.annotate(current, **{"cc.outcome": "timeout"})
                    await self._failed(group, DeliveryError(504, f"no answer within {POST_TIMEOUT:.0f} s"))
                    return
                telemetry.annotate(current, **{"cc.outcome": "delivered"})
                await self._record_done(group)
        self.stats.delivered += len(group)

    async def _record_done(self, group: list[Row]) -> None:
        """Right after the post returns: until this commits, a crash would post the card again. A database hiccup
        gets a few quick tries before the rows are left to their lease (and that one repeat)."""
        for attempt in range(3):
            try:
                await self.outbox.done_many(ids_of(group), datetime.now(UTC))
                return
            except Exception:
                if attempt == 2:
                    raise
                await asyncio.sleep(0.2)

    async def _failed(self, group: list[Row], exc: DeliveryError) -> None:
        tenant, chat, ids = group[0]["tenant_id"], group[0]["chat_id"], ids_of(group)
        attempts = max(r["attempts"] for r in group) + 1
        error = f"HTTP {exc.status}: {exc}"
        if exc.status in GONE:
            log.info("bot is no longer in chat %s (%s): stop posting there", chat, error)
            self._gone[chat] = time.monotonic()  # rows already claimed for this chat are skipped too
            await self.connections.mark_bot_removed(tenant, chat, datetime.now(UTC))
            self.stats.skipped += len(ids)
            await self.outbox.skip(ids, f"the bot is not in this chat ({error})")
            return
        wait = exc.retry_after if exc.retry_after is not None else self._backoff(attempts)
        if exc.status in RETRYABLE and (exc.status == 429 or exc.retry_after is not None) and wait > 0:
            await self.throttle.throttled(tenant, chat, wait)  # every replica's posts to this chat wait too
        if exc.status in RETRYABLE and attempts < self.max_attempts:
            self.stats.retried += len(ids)
            due = datetime.now(UTC) + timedelta(seconds=wait)
            await self.outbox.retry_many(ids, due, error, self.id)
            await self._keep_order(group, due)
            self._wake_in(wait)
        else:
            log.warning("outbox rows %s dead after %d attempt(s): %s", ids, attempts, error)
            self.stats.dead += len(ids)
            await self.outbox.dead_many(ids, f"{error} (attempt {attempts})")

    async def _keep_order(self, group: list[Row], due: datetime) -> None:
        """A retried lifecycle notice or action (issue 15) keeps its place: the rows of the same record queued
        behind it for this chat go back to the table due just after it, so the chat hears the changes in order."""
        lane = self._lanes.get(group[0]["chat_id"])
        if lane is None or not alone(group[0]):
            return
        key = record(group[0])
        behind = [r for r in lane.queue if record(r) == key]
        if behind:
            lane.queue[:] = [r for r in lane.queue if record(r) != key]
            await self.outbox.release(ids_of(behind), due + timedelta(milliseconds=1), self.id)
            self.claims.drop(behind)

    def _backoff(self, attempts: int) -> float:
        return float(min(self.backoff_cap, 2 ** (attempts - 1)) * random.uniform(0.8, 1.2))

    def _wake_in(self, seconds: float) -> None:
        """Claim again when a row falls due, instead of waiting for the fallback poll."""
        loop = asyncio.get_running_loop()
        when = loop.time() + max(0.0, seconds) + 0.01
        if self._timer and loop.time() < self._timer.when() <= when:
            return
        if self._timer:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._wake.set)

    def held(self) -> int:
        return len(self.claims.rows)
