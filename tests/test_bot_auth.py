"""With an app id set, /api/messages requires a valid Bot Framework token: bad tokens get 401, never 500."""
from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.teams import GROUP, TENANT, Bot, activity

APP_ID = "11111111-2222-3333-4444-555555555555"
ISSUER = "https://api.botframework.com"


@pytest.fixture
async def secured(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession
                  ) -> AsyncIterator[tuple[Bot, FakeIdentity]]:
    identity = await FakeIdentity().start()
    config = test_config(sqlite_url, app_id=APP_ID, app_password="secret", openid_url=identity.openid_url,
                         login_url=identity.token_url, allowed_tenants=frozenset({TENANT}))
    _app, runner, url = await start_app(config)
    yield Bot(url, connector.url, http), identity
    await runner.cleanup()
    await identity.stop()


def claims(connector: FakeConnector, **over: object) -> dict[str, object]:
    return {"iss": ISSUER, "aud": APP_ID, "serviceurl": connector.url, **over}


async def test_valid_token_is_answered_and_reply_carries_bot_token(secured, connector: FakeConnector):
    """A valid channel token gets 200; the reply goes out with the bot's own cached client-credentials token."""
    bot, identity = secured
    for _ in range(2):
        status, _ = await bot.post(activity("help", service_url=connector.url),
                                   {"Authorization": f"Bearer {identity.sign(claims(connector))}"})
        assert status == 200
    assert len(connector.texts(GROUP)) == 2
    assert connector.headers[-1]["Authorization"] == "Bearer outgoing-1"
    assert len(identity.token_requests) == 1  # cached across turns
    assert identity.token_requests[0]["client_id"] == APP_ID
    assert identity.token_requests[0]["scope"] == "https://api.botframework.com/.default"


@pytest.mark.parametrize("case", ["missing", "garbage", "expired", "audience", "issuer", "unknown-key",
                                  "service-url", "not-bearer"])
async def test_bad_tokens_get_401_and_do_nothing(secured, connector: FakeConnector, case: str):
    """No, garbage, expired, wrong-audience, wrong-issuer, unknown-key or mismatched tokens: 401, no reply."""
    bot, identity = secured
    token = {
        "missing": None, "garbage": "Bearer not.a.jwt", "not-bearer": "Basic abc",
        "expired": f"Bearer {identity.sign(claims(connector), lifetime=-3600)}",
        "audience": f"Bearer {identity.sign(claims(connector, aud='someone-else'))}",
        "issuer": f"Bearer {identity.sign(claims(connector, iss='https://evil.example'))}",
        "unknown-key": f"Bearer {identity.sign(claims(connector), kid='nope')}",
        "service-url": f"Bearer {identity.sign(claims(connector, serviceurl='https://elsewhere.example/'))}",
    }[case]
    status, body = await bot.post(activity("help", service_url=connector.url),
                                  {"Authorization": token} if token else {})
    assert status == 401
    assert "Traceback" not in str(body)
    assert connector.activities == []


async def test_other_tenant_refused(secured, connector: FakeConnector):
    """ALLOWED_TENANT_IDS: an activity from another tenant is refused with 403 and no reply."""
    bot, identity = secured
    body = activity("help", service_url=connector.url)
    body["conversation"]["tenantId"] = "00000000-dead-beef-0000-000000000000"
    body["channelData"]["tenant"]["id"] = "00000000-dead-beef-0000-000000000000"
    status, _ = await bot.post(body, {"Authorization": f"Bearer {identity.sign(claims(connector))}"})
    assert status == 403 and connector.activities == []
