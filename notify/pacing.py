"""Teams' send limits as sliding windows: per bot per conversation 7/1 s, 8/2 s, 60/30 s, 1800/hour, and about
50 requests/s per app per tenant. A sliding log (not a token bucket, which lets a full bucket plus its refill
through in one window) keeps every window of the given length within its limit, exactly."""
from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence

CONVERSATION = ((1.0, 7), (2.0, 8), (30.0, 60), (3600.0, 1800))
# The tenant's 50/s is also spread out (one post per 20 ms) rather than sent in bursts of 50: fewer posts are in
# flight at any instant, and each one in flight is a message a crash could repeat.
TENANT = ((1.0, 50), (0.02, 1))
MARGIN = 0.05  # added to each window (5% for windows under a second): the connector sees our posts jittered
# Replicas on one PostgreSQL space a tenant's posts this far apart between them (notify.worker, SqlOutbox.tenant_slot):
# the same 50 per 1.05 s the tenant window allows one process.
SHARED_SPACING = (1.0 + MARGIN) / 50


class Window:
    def __init__(self, limits: Sequence[tuple[float, int]]) -> None:
        self.limits = tuple((span + min(MARGIN, span * MARGIN), limit) for span, limit in limits)
        self.horizon = max(span for span, _ in self.limits)
        self.sent: deque[float] = deque()

    def earliest(self, now: float) -> float:
        """The first moment (>= now) one more send fits every window, given the sends recorded so far (which
        may include reserved moments still ahead)."""
        while self.sent and self.sent[0] <= now - self.horizon:
            self.sent.popleft()
        at = max(now, self.sent[-1] if self.sent else now)
        count = len(self.sent)
        for span, limit in self.limits:
            if count >= limit:
                at = max(at, self.sent[count - limit] + span)
        return at

    def delay(self, now: float) -> float:
        return self.earliest(now) - now

    def record(self, at: float) -> None:
        """A send at `at` (now, or a reserved moment ahead: later callers then queue behind it)."""
        self.sent.append(at)

    def seed(self, times: Iterable[float]) -> None:
        """Sends made before this process knew the conversation (an earlier run, another replica)."""
        self.sent = deque(sorted([*times, *self.sent]))

    def idle(self, now: float) -> bool:
        return not self.sent or self.sent[-1] <= now - self.horizon


class Pacer:
    """One window per conversation and one per tenant; a send must fit both."""

    def __init__(self) -> None:
        self.conversations: dict[str, Window] = {}
        self.tenants: dict[str, Window] = {}

    def known(self, chat_id: str) -> bool:
        return chat_id in self.conversations

    def conversation(self, chat_id: str) -> Window:
        window = self.conversations.get(chat_id)
        if window is None:
            window = self.conversations[chat_id] = Window(CONVERSATION)
        return window

    def tenant(self, tenant_id: str) -> Window:
        window = self.tenants.get(tenant_id)
        if window is None:
            window = self.tenants[tenant_id] = Window(TENANT)
        return window

    def slot(self, tenant_id: str, chat_id: str, now: float) -> float:
        """The first moment both the conversation's and the tenant's windows allow a send."""
        return max(self.conversation(chat_id).earliest(now), self.tenant(tenant_id).earliest(now))

    def take(self, tenant_id: str, chat_id: str, at: float) -> None:
        """Reserve that moment in both windows, so each waiting sender sleeps once, to its own turn."""
        self.conversation(chat_id).record(at)
        self.tenant(tenant_id).record(at)

    def forget_idle(self, now: float, keep: set[str]) -> None:
        """Drop windows with nothing left to remember, so memory follows active chats, not all chats ever."""
        for table in (self.conversations, self.tenants):
            for key in [k for k, w in table.items() if k not in keep and w.idle(now)]:
                del table[key]
