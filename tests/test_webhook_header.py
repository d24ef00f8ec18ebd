"""DATAVERSE_WEBHOOK_HEADER defaults to x-teamsconnector-key (as the README and register_webhooks say): a webhook
registered as HttpHeader with that header is accepted with no further setting; another header is not."""
from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import aiohttp
import pytest

from config import Config
from tests.conftest import test_config
from tests.fake_connector import FakeConnector
from tests.notify_helpers import KEY, Service, wait_cards, webhook_body

A = "19:chat-a@thread.v2"


def configured(sqlite_url: str, env: dict[str, str]) -> Config:
    """The configuration `python app.py` would read from `env`, on the test's database and directory."""
    base = test_config(sqlite_url)
    return replace(Config.from_env(env), database_url=base.database_url, record_source=base.record_source,
                   public_url=base.public_url, graph_auth="none")


@pytest.fixture
async def default_header(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession
                         ) -> AsyncIterator[Service]:
    service = await Service.start(configured(sqlite_url, {"DATAVERSE_WEBHOOK_KEY": KEY}), connector, http)
    yield service
    await service.stop()


async def test_default_header_carries_the_key(default_header: Service, connector: FakeConnector):
    await default_header.connect(A)
    status, body = await default_header.webhook(webhook_body(), query="", headers={"x-teamsconnector-key": KEY})
    assert (status, body["status"]) == (200, "accepted")
    assert len(await wait_cards(connector, A, 1)) == 1


async def test_default_header_with_a_wrong_key_or_another_header_is_refused(default_header: Service):
    for headers in ({"x-teamsconnector-key": KEY + "x"}, {"x-other-key": KEY}, {}):
        status, _ = await default_header.webhook(webhook_body(), query="", headers=headers)
        assert status == 401, headers


async def test_a_configured_header_replaces_the_default(sqlite_url: str, connector: FakeConnector,
                                                        http: aiohttp.ClientSession):
    env = {"DATAVERSE_WEBHOOK_KEY": KEY, "DATAVERSE_WEBHOOK_HEADER": "x-other-key"}
    service = await Service.start(configured(sqlite_url, env), connector, http)
    try:
        assert (await service.webhook(webhook_body(), query="", headers={"x-teamsconnector-key": KEY}))[0] == 401
        assert (await service.webhook(webhook_body(), query="", headers={"x-other-key": KEY}))[0] == 200
    finally:
        await service.stop()
