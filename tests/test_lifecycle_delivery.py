"""Issue 15 end to end: reassignment, resolution and reopening reach the connected chats through the real HTTP
doors (`set` in a chat, the Dataverse webhook) and the outbox, to the fake Bot Connector and the fake Graph."""
from __future__ import annotations

import asyncio
import itertools
import json
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from app import DB
from bench.notify_bench import Service as ProcessService
from bench.targets import free_port
from domain.settings import Settings
from tests.card_schema import assert_valid_card
from tests.conftest import DEMO
from tests.fake_connector import FakeConnector
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data
from tests.fake_graph import FakeGraph
from tests.notify_helpers import CASE, CASE_ID, KEY, Service, eventually, notify_config, texts, webhook_body
from tests.teams import ADELE, ALEX, ISAIAH, MEGAN, Bot

A, B = "19:life-a@thread.v2", "19:life-b@thread.v2"
ALEX_ID, MEGAN_ID = "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21", "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
ISAIAH_ID = "4d2e3f5a-6b7c-ef11-8409-000d3a4b9c23"
NAMES = {ALEX_ID: "Alex Wilber", MEGAN_ID: "Megan Bowen", ISAIAH_ID: "Isaiah Langer"}


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        for aad in (ALEX, MEGAN, ISAIAH):
            fake.set_user(aad, licensed=True)
        fake.set_user(ADELE, licensed=False)
        for chat in (A, B):
            fake.add_chat(chat, members=[ALEX])
        yield fake


@pytest.fixture
async def svc(sqlite_url: str, connector: FakeConnector, graph: FakeGraph, http: aiohttp.ClientSession
              ) -> AsyncIterator[Service]:
    service = await Service.start(notify_config(sqlite_url, graph_base_url=graph.url), connector, http)
    for chat in (A, B):
        await service.connect(chat)
    yield service
    await service.stop()


def notices(connector: FakeConnector, conv: str, words: str) -> list[dict[str, Any]]:
    return [c for c in connector.cards(conv) if words in texts(c)]


async def wait_notices(connector: FakeConnector, conv: str, words: str, count: int = 1,
                       within: float = 15.0) -> list[dict[str, Any]]:
    await eventually(lambda: len(notices(connector, conv, words)) >= count, within)
    return notices(connector, conv, words)


async def audit(svc: Service, event: str) -> list[dict[str, Any]]:
    return list(await svc.running.app[DB].fetch("SELECT * FROM audit WHERE event = $1 ORDER BY id", event))


async def say(svc: Service, connector: FakeConnector, text: str, user: str = ALEX, conv: str = A) -> str:
    before = len(connector.texts(conv))
    status, _ = await svc.bot.say(text, user=user, conv=conv)
    assert status == 200
    return connector.texts(conv)[before:][-1]


def policy(**changes: Any):  # type: ignore[no-untyped-def]
    def change(s: Settings) -> Settings:
        rts = s.record_types["incident"]
        return s.with_type("incident", replace(rts, lifecycle=replace(rts.lifecycle, **changes)))
    return change


def button(card: dict[str, Any]) -> dict[str, Any] | None:
    found = [a for a in json.loads(json.dumps(card)).get("body", []) if a.get("type") == "ActionSet"]
    return found[0]["actions"][0] if found else None


async def test_reassignment_by_set_button_and_personal_message(svc: Service, connector: FakeConnector,
                                                               graph: FakeGraph):
    """`set case … owner Megan Bowen`: every connected chat gets "Case reassigned from Alex Wilber to Megan Bowen"
    with an "Add Megan Bowen" button; Megan gets a 1:1 message (POST /v3/conversations) listing both chats with
    Join and Open; a member pressing the button adds her with the whole history, once."""
    reply = await say(svc, connector, f"set case {CASE} owner Megan Bowen")
    assert "Alex Wilber → Megan Bowen" in reply and "notified (2)" in reply
    for conv in (A, B):
        cards = await wait_notices(connector, conv, "Case reassigned from Alex Wilber to Megan Bowen")
        assert len(cards) == 1
        assert_valid_card(cards[0])
        action = button(cards[0])
        assert action and action["verb"] == "lifecycle_add" and action["title"] == "Add Megan Bowen to this chat"
    await eventually(lambda: len(connector.cards(f"a:1on1-{MEGAN}")) == 1)
    created = connector.created[-1]
    assert created["members"] == [{"id": MEGAN}] and created["isGroup"] is False and created["bot"]["id"]
    personal = connector.cards(f"a:1on1-{MEGAN}")[0]
    assert_valid_card(personal)
    dumped = json.dumps(personal)
    assert dumped.count('"type": "Action.Execute", "title": "Join"') == 2
    assert dumped.count("teams.microsoft.com/l/chat/") == 2
    data = button(notices(connector, A, "reassigned")[0])["data"]  # type: ignore[index]
    status, answer = await svc.bot.press("lifecycle_add", data, user=ISAIAH, conv=A)
    assert status == 200 and "Megan Bowen was added to this chat" in json.dumps(answer)
    adds = graph.calls("POST", f"/chats/{A}/members")
    assert len(adds) == 1 and adds[0].json["visibleHistoryStartDateTime"].startswith("0001-01-01")
    status, answer = await svc.bot.press("lifecycle_add", data, user=ISAIAH, conv=A)
    assert "already in this chat" in json.dumps(answer)
    assert "nothing changed" in await say(svc, connector, f"set case {CASE} owner megan bowen")
    assert len(await audit(svc, "reassigned_notice")) == 2
    assert len(await audit(svc, "member_added_by_button")) == 1
    assert len(await audit(svc, "owner_messaged")) == 1


async def test_unlicensed_new_owner_is_explained_and_nobody_added(svc: Service, connector: FakeConnector,
                                                                  graph: FakeGraph):
    """A new owner without a Teams licence: the notice says so, no button, no personal message, nobody added."""
    await say(svc, connector, f"set case {CASE} owner Adele Vance")
    card = (await wait_notices(connector, A, "reassigned from Alex Wilber to Adele Vance"))[0]
    assert "Adele Vance has no Teams licence or isn't known to Teams, so nobody was added." in texts(card)
    assert button(card) is None
    await eventually(lambda: bool(svc.running.app[DB]) and False, 0.5)
    assert connector.created == [] and graph.calls("POST", r"/chats/.*/members") == []


async def test_automatic_add_survives_graph_failures(svc: Service, connector: FakeConnector, graph: FakeGraph):
    """Policy "add the new owner": Graph failing at first, the adds are retried through the outbox until Megan is
    in both chats with the whole history, each once, audited as added by the policy."""
    await svc.save_settings(policy(reassign_add="auto", reassign_message_owner=False))
    graph.fail(4, status=500, code="InternalServerError", message="Try again.")
    await say(svc, connector, f"set case {CASE} owner Megan Bowen")
    ok = await eventually(lambda: all(any(m["userId"] == MEGAN for m in graph.chats[c].members) for c in (A, B)),
                          15)
    assert ok
    for conv in (A, B):
        assert len(notices(connector, conv, "reassigned")) == 1
        adds = graph.calls("POST", f"/chats/{conv}/members")
        assert adds and all(a.json["visibleHistoryStartDateTime"].startswith("0001-01-01") for a in adds)
        assert [m["userId"] for m in graph.chats[conv].members].count(MEGAN) == 1
    assert await eventually(lambda: _count(svc, "member_added_by_policy", 2), 15)  # audited right after the add
    assert len(await audit(svc, "member_added_by_policy")) == 2
    assert (await svc.status())["states"]["dead"] == 0


async def test_resolve_disconnects_then_reopen_reconnects(svc: Service, connector: FakeConnector):
    """Resolved with "disconnect after closing": the closing card (the change, who resolved it) reaches both chats,
    then they are disconnected by the policy (audited, history kept); reopening tells them and reconnects them."""
    await svc.save_settings(policy(close_disconnect=True))
    await say(svc, connector, f"set case {CASE} status Resolved")
    for conv in (A, B):
        card = (await wait_notices(connector, conv, "Case resolved by Alex Wilber"))[0]
        assert_valid_card(card)
        assert "Status: Active → Resolved" in texts(card)
        assert "will be disconnected" in texts(card)
    assert await eventually(lambda: _count(svc, "disconnected_by_policy", 2), 15)
    db = svc.running.app[DB]
    rows = await db.fetch("SELECT state, disconnected_by FROM connections ORDER BY id")
    assert [(r["state"], r["disconnected_by"]) for r in rows] == [("disconnected", "policy:lifecycle")] * 2
    await say(svc, connector, f"set case {CASE} status Active")
    for conv in (A, B):
        assert len(await wait_notices(connector, conv, "Case reopened by Alex Wilber")) == 1
    active = await db.fetch("SELECT chat_id FROM connections WHERE state = 'connected' ORDER BY chat_id")
    assert sorted(r["chat_id"] for r in active) == sorted([A, B])
    assert len(await audit(svc, "reconnected_by_policy")) == 2
    assert len(await audit(svc, "reopened_notice")) == 2


async def _count(svc: Service, event: str, n: int) -> bool:
    return len(await audit(svc, event)) >= n


async def test_webhook_burst_one_notice_per_change_in_order(svc: Service, connector: FakeConnector):
    """Dataverse reassigns the case four times in a row and a retry repeats one webhook: each chat gets one
    notice per actual change, in order; a priority change in the same event is on the same card."""
    chain = [ALEX_ID, MEGAN_ID, ISAIAH_ID, ALEX_ID, MEGAN_ID]
    bodies = [webhook_body(priority=None, owner=((old, NAMES[old]), (new, NAMES[new])))
              for old, new in itertools.pairwise(chain)]
    bodies[1] = webhook_body(priority=("Normal", "High"), owner=((MEGAN_ID, NAMES[MEGAN_ID]),
                                                                  (ISAIAH_ID, NAMES[ISAIAH_ID])))
    for body in bodies:
        status, answer = await svc.webhook(body)
        assert (status, answer["status"]) == (200, "accepted"), answer
    assert (await svc.webhook(bodies[2]))[1]["status"] == "duplicate"
    expected = [f"Case reassigned from {NAMES[o]} to {NAMES[n]}" for o, n in itertools.pairwise(chain)]
    for conv in (A, B):
        await wait_notices(connector, conv, "reassigned", 4, within=15)
        await asyncio.sleep(0.3)
        got = [line for c in notices(connector, conv, "reassigned") for line in texts(c).split("\n")
               if line.startswith("Case reassigned")]
        assert got == expected
        second = notices(connector, conv, "reassigned")[1]
        assert "Priority: Normal → High" in texts(second)


async def test_retried_notice_keeps_its_place(svc: Service, connector: FakeConnector):
    """The first notice in chat A is refused once (503, Retry-After 0.5 s): the later reassignments of the case
    wait behind it, so A still hears the three changes in order, each once."""
    connector.fail_next(503, 1, retry_after="0.5", conv=A)
    chain = [ALEX_ID, MEGAN_ID, ISAIAH_ID, ALEX_ID]
    for old, new in itertools.pairwise(chain):
        body = webhook_body(priority=None, owner=((old, NAMES[old]), (new, NAMES[new])))
        assert (await svc.webhook(body))[1]["status"] == "accepted"
    expected = [f"Case reassigned from {NAMES[o]} to {NAMES[n]}" for o, n in itertools.pairwise(chain)]
    for conv in (A, B):
        await eventually(lambda conv=conv: len(_lines(connector, conv)) >= len(expected), 10)
        await asyncio.sleep(0.3)
        assert _lines(connector, conv) == expected


async def test_webhook_resolution_posts_closing_card(svc: Service, connector: FakeConnector):
    """A Dataverse state change to Resolved posts the closing card with who resolved it."""
    status, answer = await svc.webhook(webhook_body(priority=None, state=("Active", "Resolved")))
    assert (status, answer["status"]) == (200, "accepted")
    card = (await wait_notices(connector, A, "Case resolved by Diego Siciliani"))[0]
    assert "Status: Active → Resolved" in texts(card)
    assert len(await audit(svc, "closed_notice")) == 2


async def test_team_owner_means_its_administrator(svc: Service, connector: FakeConnector):
    """Reassigned to a team: the button adds the team's administrator (Tier 1 Support -> Megan Bowen)."""
    await say(svc, connector, f"set case {CASE} owner Tier 1 Support")
    card = (await wait_notices(connector, A, "Case reassigned from Alex Wilber to Tier 1 Support"))[0]
    action = button(card)
    assert action and action["title"] == "Add Megan Bowen to this chat"


async def test_chat_the_bot_left_is_skipped(svc: Service, connector: FakeConnector, graph: FakeGraph):
    """The bot was removed from chat A: its notice and its policy action are skipped, chat B gets everything."""
    await svc.save_settings(policy(reassign_add="auto", reassign_message_owner=False))
    connector.gone.add(A)
    await say(svc, connector, f"set case {CASE} owner Megan Bowen", conv=B)
    assert await eventually(lambda: any(m["userId"] == MEGAN for m in graph.chats[B].members), 8)
    assert await eventually(lambda: _states(svc, skipped=2), 8)
    assert notices(connector, A, "reassigned") == [] and len(notices(connector, B, "reassigned")) == 1
    assert not any(m["userId"] == MEGAN for m in graph.chats[A].members)


async def _states(svc: Service, **want: int) -> bool:
    states = (await svc.status())["states"]
    return all(states[k] == v for k, v in want.items())


async def test_kill_9_during_a_burst_loses_nothing(tmp_path: Path, connector: FakeConnector, graph: FakeGraph,
                                                   http: aiohttp.ClientSession):
    """The service process is killed (SIGKILL) while a burst of reassignments is being delivered; started again
    on the same database, every notice reaches both chats, in order. Only a post in flight at the kill (or one
    that outlived its timeout) may be repeated. Waits out the 20 s outbox lease of the killed worker."""
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path}/kill.db", RECORD_SOURCE=f"local:{DEMO}",
               DATAVERSE_WEBHOOK_KEY=KEY, PORT=str(free_port()), HOST="127.0.0.1", PUBLIC_URL="https://cc.example",
               GRAPH_AUTH="none", GRAPH_BASE_URL=graph.url)
    service = ProcessService(env, tmp_path / "service.log")
    await service.start()
    url = f"http://127.0.0.1:{env['PORT']}"
    bot = Bot(url, connector.url, http)
    try:
        for conv in (A, B):
            assert (await bot.say(f"connect case {CASE}", conv=conv))[0] == 200
        chain = [ALEX_ID, MEGAN_ID, ISAIAH_ID] * 4 + [ALEX_ID]
        for old, new in itertools.pairwise(chain):
            body = webhook_body(priority=None, owner=((old, NAMES[old]), (new, NAMES[new])))
            async with http.post(f"{url}/api/dataverse/webhook?code={KEY}", json=body) as resp:
                assert resp.status == 200 and (await resp.json())["status"] == "accepted"
        await wait_notices(connector, A, "reassigned", 2)
        service.kill()
        await service.start()
        expected = [f"Case reassigned from {NAMES[o]} to {NAMES[n]}" for o, n in itertools.pairwise(chain)]
        for conv in (A, B):
            await eventually(lambda conv=conv: _in_order(_lines(connector, conv), expected), 60)
            await asyncio.sleep(0.5)  # a straggler would show here
            got = _lines(connector, conv)
            assert _in_order(got, expected), "\n".join(got) + _tail(tmp_path / "service.log")
    finally:
        service.stop()


def _tail(log: Path) -> str:
    """The service's last log lines, to see why a delivery is missing."""
    import sqlite3
    lines = [line for line in log.read_text(errors="replace").splitlines() if "httpx" not in line]
    with sqlite3.connect(log.with_name("kill.db")) as db:
        rows = db.execute("SELECT id, chat_id, state, attempts, last_error, claimed_by, sent_at, not_before "
                          "FROM outbox ORDER BY id").fetchall()
    return "\n" + "\n".join(lines[-30:]) + "\n" + "\n".join(map(str, rows))


def _lines(connector: FakeConnector, conv: str) -> list[str]:
    return [line for c in notices(connector, conv, "reassigned") for line in texts(c).split("\n")
            if line.startswith("Case reassigned")]


def _in_order(got: list[str], expected: list[str]) -> bool:
    """Every change told, in order (`expected` is a subsequence of `got`), with at most two repeats: the post in
    flight at the kill, and one more if a post outlived its timeout on a loaded machine (it is then retried)."""
    rest = iter(got)
    return all(any(line == want for line in rest) for want in expected) and len(got) - len(expected) <= 2


async def test_dataverse_closing_card_shows_the_resolution(sqlite_url: str, connector: FakeConnector,
                                                           graph: FakeGraph, http: aiohttp.ClientSession):
    """With the Dataverse record source: CloseIncident wrote an incidentresolution; the webhook's state change to
    Resolved gives a closing card with its subject and description."""
    data, ids = demo_data()  # GUIDs for the demo's short ids, as Dataverse has them
    case_id = ids.get(CASE_ID, CASE_ID)
    async with FakeDataverse(data) as dataverse:
        config = notify_config(sqlite_url, graph_base_url=graph.url, record_source=f"dataverse:{dataverse.url}",
                               dataverse_auth="none")
        svc = await Service.start(config, connector, http)
        try:
            assert (await svc.bot.say(f"connect case {CASE}", conv=A, user=ids.get(ALEX, ALEX)))[0] == 200
            body = {"subject": "Printer driver rolled back", "description": "Floor 2 prints again.",
                    "createdon": "2026-12-02T09:00:00Z", "incidentid@odata.bind": f"/incidents({case_id})"}
            async with http.post(f"{dataverse.url}/api/data/v9.2/incidentresolutions", json=body) as resp:
                assert resp.status in (201, 204)
            status, answer = await svc.webhook(webhook_body(case_id, priority=None, state=("Active", "Resolved")))
            assert (status, answer["status"]) == (200, "accepted"), answer
            card = (await wait_notices(connector, A, "Case resolved by"))[0]
            assert_valid_card(card)
            assert "Resolution: Printer driver rolled back" in texts(card) and "Floor 2 prints again." in texts(card)
        finally:
            await svc.stop()
