"""Record reads for cards and `set` writes go to Dataverse as the agent (CallerObjectId), through the real bot
door against the fake Dataverse, which applies the caller's record access and field-level security."""
from __future__ import annotations

import logging

import aiohttp
import pytest

from tests.dataverse_app import dataverse_app
from tests.fake_connector import FakeConnector
from tests.fake_dataverse_security import APP_USER
from tests.notify_helpers import eventually
from tests.teams import ALEX, GROUP, MEGAN

CASE = "CAS-01001-K7R2M8"
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
ALEX_USER = "9b1f7e21-3c4d-ef11-8409-000d3a4b9c21"
MEGAN_USER = "0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"
OTHER = "19:other-chat@thread.v2"


def chat_text(connector: FakeConnector, chat: str) -> str:
    return "\n".join(map(str, connector.cards(chat))) + "\n".join(connector.texts(chat))


async def test_hidden_field_never_reaches_the_chat(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                   connector: FakeConnector, http: aiohttp.ClientSession):
    """Priority is secured and only Megan may read it: Alex's card leaves it out, Megan's shows it; the record
    reads carry the agent's Entra object id in CallerObjectId."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        env.dv.secure_column("incident", "prioritycode", readers=(MEGAN_USER,))
        await env.tab.bot.say(f"connect case {CASE}", user=env.aad(ALEX))
        text = chat_text(connector, GROUP)
        assert "Cannot sign in to the customer portal" in text
        assert "High" not in text
        reads = [r for r in env.dv.calls("GET", "incidents") if r.headers.get("callerobjectid")]
        assert reads and all(r.headers["callerobjectid"] == env.aad(ALEX) for r in reads)

        await env.tab.bot.say(f"connect case {CASE}", user=env.aad(MEGAN), conv=OTHER)
        assert "High" in chat_text(connector, OTHER)


async def test_set_writes_as_the_agent(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                       connector: FakeConnector, http: aiohttp.ClientSession):
    """`set` PATCHes with CallerObjectId, so Dataverse records the agent as "modified by" and the service as
    "modified on behalf by"; a secured field the agent may not update is refused with Dataverse's reason."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        await env.tab.bot.say(f"set case {CASE} priority Low", user=env.aad(ALEX))
        assert "changed: High → Low" in connector.texts(GROUP)[-1]
        assert env.dv.modified[("incident", CASE_ID)] == (ALEX_USER, APP_USER)

        env.dv.secure_column("incident", "caseorigincode", readers=(MEGAN_USER,))
        await env.tab.bot.say(f"set case {CASE} origin Phone", user=env.aad(ALEX))
        assert "didn't accept the change" in connector.texts(GROUP)[-1]
        assert "secured field" in connector.texts(GROUP)[-1]


async def test_user_unknown_to_dataverse_is_refused_clearly(monkeypatch: pytest.MonkeyPatch, sqlite_url: str,
                                                            connector: FakeConnector, http: aiohttp.ClientSession):
    """When Dataverse no longer knows the agent (disabled since the service looked them up), the read as the
    agent is refused with a clear message, not taken for a missing record, and nothing is connected."""
    async with dataverse_app(monkeypatch, sqlite_url, connector, http) as env:
        await env.tab.bot.say("records", user=env.aad(ALEX))  # the service has looked Alex up (cached)
        next(u for u in env.dv.rows("systemuser") if u["systemuserid"] == ALEX_USER)["isdisabled"] = True
        await env.tab.bot.say(f"connect case {CASE}", user=env.aad(ALEX))
        reply = connector.texts(GROUP)[-1]
        assert "doesn't know you as a user" in reply and "No case" not in reply
        await env.tab.bot.say("records", user=env.aad(MEGAN))
        assert "None yet" in chat_text(connector, GROUP)


async def test_missing_delegate_privilege_warns_at_start_and_refuses(
        monkeypatch: pytest.MonkeyPatch, sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession,
        caplog: pytest.LogCaptureFixture):
    """Without prvActOnBehalfOfAnotherUser the start-up check logs a clear warning, and agents are told why."""
    caplog.set_level(logging.WARNING)

    def no_delegate(dv):  # type: ignore[no-untyped-def]
        dv.delegate = False

    async with dataverse_app(monkeypatch, sqlite_url, connector, http, prepare=no_delegate) as env:
        assert await eventually(lambda: "lacks prvActOnBehalfOfAnotherUser" in caplog.text)
        await env.tab.bot.say(f"connect case {CASE}", user=env.aad(ALEX))
        assert "needs the prvActOnBehalfOfAnotherUser privilege (Delegate role)" in connector.texts(GROUP)[-1]
