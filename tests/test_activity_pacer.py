"""domain.activity_pacer with a fake clock: the first message of a quiet chat writes at once, a burst folds into one
write at the window's end with the latest sender, and a message that wrote nothing opens no window."""
from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from domain.activity_pacer import ActivityPacer
from domain.results import ChatContext

T0 = datetime(2026, 12, 6, 9, 0, tzinfo=UTC)


def ctx(chat: str, sender: str) -> ChatContext:
    return ChatContext(tenant_id="t", conversation_id=chat, conversation_type="groupChat", user_aad=sender,
                       user_name=sender)


async def test_burst_folds_into_one_write_per_window():
    writes: list[tuple[str, str, datetime]] = []
    now = [0.0]

    async def write(c: ChatContext, at: datetime) -> bool:
        writes.append((c.conversation_id, c.user_name, at))
        return c.conversation_id != "19:unconnected"

    pacer = ActivityPacer(write, window=0.05, clock=lambda: now[0])
    for n in range(10):
        await pacer.seen(ctx("19:a", f"user{n}"), T0 + timedelta(seconds=n))
    assert writes == [("19:a", "user0", T0)]  # the first at once, the rest pending
    now[0] = 0.06
    await asyncio.sleep(0.1)
    assert writes[-1] == ("19:a", "user9", T0 + timedelta(seconds=9)) and len(writes) == 2

    for _ in range(3):  # writes nothing, so no window: every message is looked at
        await pacer.seen(ctx("19:unconnected", "x"), T0)
    assert sum(1 for w in writes if w[0] == "19:unconnected") == 3
    await pacer.close()
