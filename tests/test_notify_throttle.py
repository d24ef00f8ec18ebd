"""A Bot Connector 429's Retry-After holds the conversation for every replica on the database, not only for the
rows that got it (before, another replica posted to the same chat at once and earned more 429s); several chats of
one tenant throttled together hold the whole tenant. Two app instances, the fake connector answering 429."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.conftest import _drop_pg_database, _fresh_pg_database
from tests.fake_connector import FakeConnector
from tests.notify_helpers import (
    Service,
    directory_with_cases,
    eventually,
    notify_config,
    update_cards,
    wait_cards,
    webhook_body,
)

X, Y = "19:throttle-x@thread.v2", "19:throttle-y@thread.v2"
RETRY_AFTER = 8.0  # long against starting an app and posting on a loaded machine (~1-2 s), so the test is not flaky
EARLY = 0.5  # a post this much before the hold ends still counts as honouring it (polling, clocks, event loop)


def _update_times(connector: FakeConnector, conv: str) -> list[float]:
    """When the update cards (not the bot's replies to `connect`) reached the chat."""
    return [t for t, act in zip(connector.times[conv], connector.by_conversation[conv], strict=True)
            if " updated: " in str(act)]


async def _throttled(svc: Service, connector: FakeConnector, record: str, count: int) -> float:
    """Send a change of `record` through `svc` and wait until the connector has answered its `count` posts with
    429; when that was (monotonic)."""
    before = len(connector.headers)
    connector.fail_next(429, count, retry_after=f"{RETRY_AFTER:.0f}")
    assert (await svc.webhook(webhook_body(record)))[1]["status"] == "accepted"
    assert await eventually(lambda: len(connector.headers) >= before + count, 10)
    return time.monotonic()


async def test_other_replica_waits_out_a_429(database_url: str, tmp_path: Path, connector: FakeConnector,
                                             http: aiohttp.ClientSession):
    """Replica A gets a 429 (Retry-After 8 s) for chat X and goes away (a rolling deploy); replica B, asked to post
    a card to X and one to Y, posts Y at once but nothing to X until the 8 s are over, then both of X's cards, each
    once."""
    directory, cases = directory_with_cases(tmp_path, 3)
    config = notify_config(database_url, record_source=f"local:{directory}")
    a = await Service.start(config, connector, http)
    try:
        for (_, number), chat in zip(cases, (X, X, Y), strict=True):
            await a.connect(chat, number)
        hit = await _throttled(a, connector, cases[0][0], 1)
    finally:
        await a.stop()
    assert update_cards(connector, X) == []
    b = await Service.start(config, connector, http)
    try:
        for rid, _ in cases[1:]:
            assert (await b.webhook(webhook_body(rid)))[1]["status"] == "accepted"
        assert len(await wait_cards(connector, Y, 1, within=RETRY_AFTER - 2)) == 1
        assert _update_times(connector, Y)[0] < hit + RETRY_AFTER - EARLY  # B delivers meanwhile: only X is held
        assert update_cards(connector, X) == []
        assert len(await wait_cards(connector, X, 2, within=RETRY_AFTER + 15)) == 2
        assert min(_update_times(connector, X)) >= hit + RETRY_AFTER - EARLY
        await asyncio.sleep(0.5)
        assert len(update_cards(connector, X)) == 2 and len(update_cards(connector, Y)) == 1
    finally:
        await b.stop()


async def test_both_replicas_running_hold_the_chat(tmp_path: Path, connector: FakeConnector,
                                                   http: aiohttp.ClientSession):
    """Two running replicas on one PostgreSQL: after a 429 for X (whichever replica posted), changes sent through
    both replicas reach X only once the Retry-After is over, every card once."""
    url = await _fresh_pg_database()
    directory, cases = directory_with_cases(tmp_path, 6)
    config = notify_config(url, record_source=f"local:{directory}")
    one = await Service.start(config, connector, http)
    two = await Service.start(config, connector, http)
    try:
        for _, number in cases:
            await one.connect(X, number)
        hit = await _throttled(one, connector, cases[0][0], 1)
        await asyncio.sleep(0.5)  # the hold reaches the other replica (NOTIFY), as a later change would find it
        for i, (rid, _) in enumerate(cases[1:]):
            assert (await (one, two)[i % 2].webhook(webhook_body(rid)))[1]["status"] == "accepted"
        assert len(await wait_cards(connector, X, 6, within=RETRY_AFTER + 15)) == 6
        assert min(_update_times(connector, X)) >= hit + RETRY_AFTER - EARLY
        await asyncio.sleep(0.5)
        assert len(update_cards(connector, X)) == 6
    finally:
        await one.stop()
        await two.stop()
        await _drop_pg_database(url)


async def test_several_chats_throttled_hold_the_tenant(tmp_path: Path, connector: FakeConnector,
                                                       http: aiohttp.ClientSession):
    """Three chats of one tenant answered 429 at once (the tenant's budget, most likely): replica B then holds
    even a fourth chat of that tenant, which never got a 429, until the Retry-After is over."""
    url = await _fresh_pg_database()
    directory, cases = directory_with_cases(tmp_path, 2)
    config = notify_config(url, record_source=f"local:{directory}")
    chats = [f"19:throttle-t{i}@thread.v2" for i in range(3)]
    a = await Service.start(config, connector, http)
    try:
        for chat in chats:
            await a.connect(chat, cases[0][1])
        await a.connect(Y, cases[1][1])
        hit = await _throttled(a, connector, cases[0][0], 3)
    finally:
        await a.stop()
    b = await Service.start(config, connector, http)
    try:
        assert (await b.webhook(webhook_body(cases[1][0])))[1]["status"] == "accepted"
        assert len(await wait_cards(connector, Y, 1, within=RETRY_AFTER + 15)) == 1
        assert _update_times(connector, Y)[0] >= hit + RETRY_AFTER - EARLY
        for chat in chats:
            assert len(await wait_cards(connector, chat, 1, within=10)) == 1
    finally:
        await b.stop()
        await _drop_pg_database(url)
