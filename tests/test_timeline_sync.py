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
    timeline = running.app[SERVICE].records.timeline  # the local directory's equivalent of Dataverse's chat table
    await running.bot.say("connect case CAS-01002-P4Q9T1")  # before sync: never synced (SYNC-03)
    await turn_sync_on(running)
    await running.bot.say("connect case CAS-01001-K7R2M8")
    assert [(i["recordId"], i["linkedBy"], i["state"]) for i in timeline] == \
        [("e1a2b3c4-0001-4000-8000-000000001001", "Alex Wilber", "linked")]
    await running.bot.post(activity("a secret message text", user=MEGAN, service_url=connector.url))
    item = timeline[0]
    assert item["lastSender"] == "Megan Bowen" and item["lastMessageOn"]
    assert "secret" not in repr(timeline)
    await running.bot.say("disconnect case CAS-01001-K7R2M8")
    assert timeline[0]["state"] == "unlinked" and len(timeline) == 1
