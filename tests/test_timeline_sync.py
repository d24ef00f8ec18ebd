"""Timeline sync (SYNC-01..03) with the local directory: who connected and when, last sender and time, never text."""
from __future__ import annotations

from dataclasses import replace

from app import SERVICE
from tests.conftest import Running
from tests.fake_connector import FakeConnector
from tests.teams import MEGAN, activity


async def turn_sync_on(running: Running) -> None:
    service = running.app[SERVICE]
    settings, etag = await service.load_settings()
    await service.save_settings(replace(settings, timeline_sync=True), etag)


async def test_connect_message_disconnect_update_the_timeline(running: Running, connector: FakeConnector):
    """A chat connected while sync is on gets a timeline item; messages update its last sender; disconnect unlinks."""
    records = running.app[SERVICE].records
    case = await records.get_record("incident", "CAS-01001-K7R2M8")
    other = await records.get_record("incident", "CAS-01002-P4Q9T1")
    assert case and other
    await running.bot.say("connect case CAS-01002-P4Q9T1")  # before sync: never synced (SYNC-03)
    await turn_sync_on(running)
    await running.bot.say("connect case CAS-01001-K7R2M8")
    assert not await records.timeline_chats(other)
    assert [(i.linked_by, i.linked) for i in await records.timeline_chats(case)] == [("Alex Wilber", True)]
    await running.bot.post(activity("a secret message text", user=MEGAN, service_url=connector.url))
    (item,) = await records.timeline_chats(case)
    assert item.last_sender == "Megan Bowen" and item.last_message_on
    assert "secret" not in repr(item)
    await running.bot.say("disconnect case CAS-01001-K7R2M8")
    assert [i.linked for i in await records.timeline_chats(case)] == [False]
