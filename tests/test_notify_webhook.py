"""POST /api/dataverse/webhook through real HTTP: authentication, parsing the sample RemoteExecutionContext, which
chats get a card and what it says. Cards arrive at the fake Bot Connector."""
from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest

from domain.lifecycle_policy import LifecyclePolicy
from domain.settings import Settings
from tests.card_schema import assert_valid_card
from tests.conftest import test_config
from tests.fake_connector import FakeConnector
from tests.notify_helpers import (
    CASE,
    CASE_ID,
    CASE_TITLE,
    HEADER,
    KEY,
    Service,
    drop_pair,
    eventually,
    notify_config,
    sample_body,
    set_pair,
    texts,
    update_cards,
    wait_cards,
    webhook_body,
)

A, B = "19:chat-a@thread.v2", "19:chat-b@thread.v2"


@pytest.fixture
async def svc(database_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Service]:
    service = await Service.start(notify_config(database_url), connector, http)
    yield service
    await service.stop()


@pytest.fixture
async def lite(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession) -> AsyncIterator[Service]:
    service = await Service.start(notify_config(sqlite_url), connector, http)
    yield service
    await service.stop()


def watch(*columns: str):  # type: ignore[no-untyped-def]
    """Key-update notifications on these columns only (the lifecycle policy of issue 15 off)."""
    def change(s: Settings) -> Settings:
        return s.with_type("incident", replace(s.record_types["incident"], notify=True, watched=columns,
                                               lifecycle=LifecyclePolicy()))
    return change


async def test_sample_webhook_posts_formatted_priority_change(svc: Service, connector: FakeConnector):
    """NOTIFY-02: the unmodified sample -> each connected chat gets one valid card "Priority: Normal → High", by
    the initiating user, with a link to the record; the unwatched owner change is no field line, but (issue 15,
    case default) the same card tells the reassignment: one card for the change, not two."""
    await svc.connect(A)
    await svc.connect(B)
    status, body = await svc.webhook(sample_body())
    assert (status, body["status"], body["chats"]) == (200, "accepted", 2)
    for conv in (A, B):
        await eventually(lambda conv=conv: len(connector.cards(conv)) >= 2)  # the connect card, then ours
        await asyncio.sleep(0.2)
        cards = [c for c in connector.cards(conv) if "reassigned" in texts(c)]
        assert len(cards) == 1
        text = texts(cards[0])
        assert CASE_TITLE in text and "Case reassigned from Alex Wilber to Megan Bowen" in text
        assert "Priority: Normal → High" in text
        assert "Changed by Diego Siciliani" in text
        assert "Owner:" not in text
        assert cards[0]["actions"][0]["url"] == f"https://cc.example/tabs/record?type=incident&id={CASE_ID}"
        assert_valid_card(cards[0])


async def test_unwatched_change_posts_nothing_until_watched(lite: Service, connector: FakeConnector):
    """Unwatched fields never trigger a message; once the admin watches Owner, the same kind of change does,
    with the lookup named from the post-image (Target's Name is null)."""
    await lite.connect(A)
    await lite.save_settings(watch("prioritycode", "statecode", "statuscode"))
    status, body = await lite.webhook(webhook_body(owner_only=True))
    assert (status, body["status"]) == (200, "ignored")
    await asyncio.sleep(0.3)
    assert update_cards(connector, A) == []
    await lite.save_settings(watch("prioritycode", "ownerid"))
    status, body = await lite.webhook(webhook_body(owner_only=True))
    assert body["status"] == "accepted"
    assert "Owner: Alex Wilber → Megan Bowen" in texts((await wait_cards(connector, A, 1))[0])


async def test_lookup_without_name_is_named_from_the_directory(lite: Service, connector: FakeConnector):
    """An EntityReference with Name null and no post-image is named through the record source."""
    await lite.connect(A)
    await lite.save_settings(watch("ownerid"))
    body = webhook_body(owner_only=True)
    body["PostEntityImages"] = []
    await lite.webhook(body)
    assert "Owner: Alex Wilber → Megan Bowen" in texts((await wait_cards(connector, A, 1))[0])


async def test_notify_off_posts_nothing(lite: Service, connector: FakeConnector):
    """NOTIFY-01: with notifications off for cases, a watched change is not posted."""
    await lite.connect(A)
    await lite.save_settings(lambda s: s.with_type("incident", replace(s.record_types["incident"], notify=False)))
    status, body = await lite.webhook(webhook_body())
    assert (status, body["status"]) == (200, "ignored")
    await asyncio.sleep(0.3)
    assert update_cards(connector, A) == []


async def test_disconnected_chat_is_skipped(svc: Service, connector: FakeConnector):
    """Only chats still connected to the record get the card."""
    await svc.connect(A)
    await svc.connect(B)
    await svc.bot.say("disconnect", conv=B)
    _, body = await svc.webhook(webhook_body())
    assert body["chats"] == 1
    assert len(await wait_cards(connector, A, 1)) == 1
    await asyncio.sleep(0.3)
    assert update_cards(connector, B) == []


@pytest.mark.parametrize("query,headers", [
    ("", {}), ("?code=wrong", {}), (f"?code={KEY}x", {}), (f"?code={KEY[:-1]}", {}),
    ("", {HEADER: "wrong"}), ("", {"x-other-header": KEY}), ("?code=", {HEADER: ""}),
])
async def test_bad_or_missing_key_is_401_and_does_nothing(lite: Service, connector: FakeConnector,
                                                          query: str, headers: dict[str, str]):
    """Anything but the configured key, in ?code= or the configured header, is 401 and records nothing."""
    await lite.connect(A)
    status, _ = await lite.webhook(webhook_body(), query=query, headers=headers)
    assert status == 401
    await asyncio.sleep(0.2)
    assert update_cards(connector, A) == []
    assert (await lite.status())["states"]["pending"] == 0


async def test_key_in_configured_header_is_accepted(lite: Service, connector: FakeConnector):
    """HttpHeader registrations: the key in the header named by DATAVERSE_WEBHOOK_HEADER works without ?code=."""
    await lite.connect(A)
    status, body = await lite.webhook(webhook_body(), query="", headers={HEADER: KEY})
    assert (status, body["status"]) == (200, "accepted")
    assert len(await wait_cards(connector, A, 1)) == 1


async def test_no_key_configured_refuses_everything(sqlite_url: str, connector: FakeConnector,
                                                    http: aiohttp.ClientSession):
    """Without DATAVERSE_WEBHOOK_KEY the endpoint refuses every call, even one with an empty code."""
    svc = await Service.start(test_config(sqlite_url), connector, http)
    try:
        for query in ("", "?code=", f"?code={KEY}"):
            status, _ = await svc.webhook(webhook_body(), query=query)
            assert status == 401
    finally:
        await svc.stop()


async def test_duplicate_deliveries_post_once(svc: Service, connector: FakeConnector):
    """Dataverse retries and duplicates (same OperationId), sequential and concurrent, post one card per chat."""
    await svc.connect(A)
    await svc.connect(B)
    body = webhook_body()
    first = await svc.webhook(body)
    again = await asyncio.gather(*(svc.webhook(body) for _ in range(5)))
    assert first[1]["status"] == "accepted"
    assert {r[1]["status"] for r in again} == {"duplicate"}
    await wait_cards(connector, A, 1)
    await wait_cards(connector, B, 1)
    await asyncio.sleep(0.5)
    assert (len(update_cards(connector, A)), len(update_cards(connector, B))) == (1, 1)


async def test_concurrent_first_deliveries_accept_once(svc: Service, connector: FakeConnector):
    """Two copies arriving at the same moment: exactly one is accepted."""
    await svc.connect(A)
    body = webhook_body()
    results = await asyncio.gather(*(svc.webhook(body) for _ in range(6)))
    assert sorted(r[1]["status"] for r in results) == ["accepted"] + ["duplicate"] * 5
    await wait_cards(connector, A, 1)
    await asyncio.sleep(0.4)
    assert len(update_cards(connector, A)) == 1


async def test_correlation_id_identifies_operation_without_operation_id(lite: Service, connector: FakeConnector):
    """Without an OperationId, the correlation id plus record and stage identify the operation."""
    await lite.connect(A)
    body = webhook_body()
    body["OperationId"] = None
    assert (await lite.webhook(body))[1]["status"] == "accepted"
    assert (await lite.webhook(body))[1]["status"] == "duplicate"


@pytest.mark.parametrize("payload,message", [
    (b"{not json", "not JSON"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"MessageName": "Update", "PrimaryEntityName": "incident"}), "PrimaryEntityId"),
    (json.dumps({"MessageName": "Update", "PrimaryEntityName": "incident", "PrimaryEntityId": CASE_ID,
                 "InputParameters": []}), "Target"),
    (json.dumps({"MessageName": "Update", "PrimaryEntityName": "incident", "PrimaryEntityId": CASE_ID,
                 "InputParameters": {"Target": {}}}), "InputParameters"),
    (b"\xff\xfe\x00garbage", "not JSON"),
    (b"[" * 100_000, "nested too deeply"),
    (json.dumps({"MessageName": "Update", "PrimaryEntityName": "incident", "PrimaryEntityId": CASE_ID,
                 "InputParameters": [{"key": "Target", "value": {"Attributes": [
                     {"key": "title", "value": [[[[[[[[[[[["deep"]]]]]]]]]]]]}], "FormattedValues": 7}}]}),
     "FormattedValues"),
])
async def test_malformed_body_is_400_and_writes_nothing(lite: Service, payload: bytes | str, message: str):
    """Bad input gets 400 with a message naming the problem; nothing is recorded."""
    await lite.connect(A)
    status, body = await lite.webhook(payload)
    assert status == 400
    assert message in body["error"]
    assert (await lite.status())["states"]["pending"] == 0


async def test_other_messages_are_ignored(lite: Service, connector: FakeConnector):
    """Only Update notifies: a Create (or anything else) is answered 200 and ignored."""
    await lite.connect(A)
    body = webhook_body()
    body["MessageName"] = "Create"
    status, answer = await lite.webhook(body)
    assert (status, answer["status"]) == (200, "ignored")


async def test_oversized_payload_reads_current_values(lite: Service, connector: FakeConnector):
    """Over 256 KB Dataverse drops columns and images: the card shows the record's current watched values with
    the earlier ones unknown."""
    await lite.connect(A)
    body = webhook_body()
    for key in ("InputParameters", "PreEntityImages", "PostEntityImages", "ParentContext"):
        body.pop(key)
    status, answer = await lite.webhook(body, headers={"x-ms-dynamics-msg-size-exceeded": "true"})
    assert (status, answer["status"]) == (200, "accepted")
    text = texts((await wait_cards(connector, A, 1))[0])
    assert "Priority: (unknown) → Normal" in text
    assert "Status Reason: (unknown) → In Progress" in text


async def test_rich_text_with_inline_image_shows_text_and_placeholder(lite: Service, connector: FakeConnector):
    """NOTIFY-04: a watched rich-text column shows its words and "[image]", never markup."""
    await lite.connect(A)
    await lite.save_settings(watch("description"))
    body = webhook_body(priority=None)
    target = body["InputParameters"][0]["value"]
    set_pair(target["Attributes"], "description",
             '<div><p>Printer <b>jammed</b> &amp; smoking</p><img src="data:image/png;base64,AAAA"/>'
             '<script>alert(1)</script><p>see photo</p></div>')
    drop_pair(body["PreEntityImages"][0]["value"]["Attributes"], "description")
    await lite.webhook(body)
    text = texts((await wait_cards(connector, A, 1))[0])
    assert "Printer jammed & smoking [image] see photo" in text.replace("\n", " ")
    assert "<" not in text and "alert" not in text


async def test_outbox_status_counts_by_state(lite: Service, connector: FakeConnector):
    """GET /api/outbox/status reports rows by state."""
    await lite.connect(A)
    await lite.webhook(webhook_body())
    await wait_cards(connector, A, 1)
    await asyncio.sleep(0.1)
    states = (await lite.status())["states"]
    assert states["done"] == 1 and states["pending"] == 0 and states["dead"] == 0
    assert CASE  # the sample's case number, for readers of this file
