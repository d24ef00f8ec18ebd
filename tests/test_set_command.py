"""`set <type> <key> <field> <value>` through real HTTP: the change is written through the local record source and
its change event reaches every connected chat the same way a Dataverse webhook's does."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.fake_connector import FakeConnector
from tests.notify_helpers import CASE, CASE_TITLE, Service, notify_config, texts, update_cards, wait_cards
from tests.teams import ADELE, ALEX, ISAIAH

A, B = "19:set-a@thread.v2", "19:set-b@thread.v2"
PERSONAL = "a:set-personal"


@pytest.fixture
async def svc(database_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Service]:
    service = await Service.start(notify_config(database_url), connector, http)
    yield service
    await service.stop()


async def say(svc: Service, connector: FakeConnector, text: str, user: str = ALEX, conv: str = A) -> str:
    before = len(connector.texts(conv))
    status, _ = await svc.bot.say(text, user=user, conv=conv)
    assert status == 200
    replies = connector.texts(conv)[before:]
    assert replies, f"no reply to {text!r}"
    return replies[-1]


async def test_set_changes_record_and_notifies_connected_chats(svc: Service, connector: FakeConnector):
    """An agent with write access sets the priority: the reply confirms old -> new and every connected chat gets
    the update card from the same outbox path as a webhook."""
    await svc.connect(A)
    await svc.connect(B)
    reply = await say(svc, connector, f"set case {CASE} priority high")
    assert f"Priority of case '{CASE_TITLE}' changed: Normal → High" in reply
    for conv in (A, B):
        cards = await wait_cards(connector, conv, 1)
        assert len(cards) == 1
        assert "Priority: Normal → High" in texts(cards[0])
        assert "Changed by Alex Wilber" in texts(cards[0])
    reply = await say(svc, connector, f"set Case {CASE} Status Reason on hold", conv=PERSONAL)
    assert "Status Reason of case" in reply and "In Progress → On Hold" in reply
    assert "Status Reason: In Progress → On Hold" in texts((await wait_cards(connector, A, 2))[-1])


async def test_set_unwatched_field_changes_without_card(svc: Service, connector: FakeConnector):
    """A field nobody watches is changed and confirmed, but no chat is notified."""
    await svc.connect(A)
    reply = await say(svc, connector, f"set case {CASE} origin email")
    assert "Origin of case" in reply and "Phone → Email" in reply
    await asyncio.sleep(0.3)
    assert update_cards(connector, A) == []


async def test_set_same_value_changes_nothing(svc: Service, connector: FakeConnector):
    """Setting the value a field already has says so and posts nothing."""
    await svc.connect(A)
    reply = await say(svc, connector, f"set case {CASE} priority Normal")
    assert "already Normal; nothing changed" in reply
    await asyncio.sleep(0.3)
    assert update_cards(connector, A) == []


@pytest.mark.parametrize("user,text,expected", [
    (ADELE, f"set case {CASE} priority High", "read-only access"),
    (ALEX, f"set case {CASE} nonsense High", "has no field 'nonsense'"),
    (ALEX, f"set case {CASE} priority Urgent", "choose one of: Critical, High, Normal, Low"),
    (ALEX, f"set case {CASE} customers someone", "PartyList field"),
    (ALEX, f"set case {CASE} customer Contoso", "lookup"),
    (ALEX, f"set case {CASE} owner Nobody Known", "no active user or team is named 'Nobody Known'"),
    (ALEX, f"set case {CASE} case number CAS-1", "assigned by the CRM"),
    (ALEX, f"set case {CASE} priority", "Say what to change"),
    (ALEX, f"set planet {CASE} priority High", "don't know the record type"),
    (ALEX, "set case CAS-00000 priority High", "No case 'CAS-00000' was found"),
    (ALEX, f"set case {CASE} escalated on next tuesday", "must be a date"),
    (ISAIAH, "set knowledge article KA-01010 title New", "access"),
])
async def test_set_refusals_are_clear(svc: Service, connector: FakeConnector, user: str, text: str, expected: str):
    """Read-only users, unknown fields or values, and fields a chat can't change are refused with the reason."""
    await svc.connect(A)
    assert expected in await say(svc, connector, text, user=user)
    await asyncio.sleep(0.1)
    assert update_cards(connector, A) == []
