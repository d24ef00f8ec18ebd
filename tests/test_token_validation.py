"""Channel-token validation as strict as Microsoft's botframework-connector (its tests/test_auth.py and
JwtTokenExtractor/ChannelValidation): the serviceurl claim, endorsements, clock skew, unknown and rotated keys,
failed key refreshes. Every case goes through POST /api/messages with tokens signed by a fake OpenID provider."""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests import service_process
from tests.conftest import start_app, test_config
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.teams import GROUP, TENANT, Bot, activity

APP_ID = "11111111-2222-3333-4444-555555555555"
ISSUER = "https://api.botframework.com"
WINDOW = 0.4  # the test's refetch window (60 s in production)


@pytest.fixture
async def bot(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession, identity: FakeIdentity
              ) -> AsyncIterator[Bot]:
    config = test_config(sqlite_url, app_id=APP_ID, app_password="secret", openid_url=identity.openid_url,
                         login_url=identity.token_url, allowed_tenants=frozenset({TENANT}),
                         key_refetch_seconds=WINDOW)
    _app, runner, url = await start_app(config)
    yield Bot(url, connector.url, http)
    await runner.cleanup()


def claims(connector: FakeConnector, **over: object) -> dict[str, object]:
    body: dict[str, object] = {"iss": ISSUER, "aud": APP_ID, "serviceurl": connector.url, **over}
    return {k: v for k, v in body.items() if v is not None}


async def send(bot: Bot, connector: FakeConnector, token: str, **extra: object) -> int:
    status, body = await bot.post(activity("help", service_url=connector.url, **extra),
                                  {"Authorization": f"Bearer {token}"})
    assert "Traceback" not in str(body)
    return status


@pytest.mark.parametrize("claim", [{"serviceurl": None}, {"serviceurl": ""},
                                   {"serviceurl": None, "serviceUrl": "SAME"},
                                   {"serviceurl": "SAME/"}, {"serviceurl": "https://smba.trafficmanager.net/amer/"}])
async def test_service_url_claim_is_required_and_exact(bot, identity, connector: FakeConnector, claim):
    """Missing, empty, differently spelt or different serviceurl claim: 401, and the bot's token goes nowhere."""
    over = {k: (connector.url + v[4:] if isinstance(v, str) and v.startswith("SAME") else v) for k, v in claim.items()}
    assert await send(bot, connector, identity.sign(claims(connector, **over))) == 401
    assert connector.activities == [] and identity.token_requests == []
    assert await send(bot, connector, identity.sign(claims(connector))) == 200  # the exact claim passes


@pytest.mark.parametrize("channel,status", [("msteams", 200), ("webchat", 401), (None, 200)])
async def test_endorsements(bot, identity, connector: FakeConnector, channel, status):
    """A key endorsed for msteams accepts msteams activities and refuses other channels; an activity naming no
    channel makes no claim to check (EndorsementsValidator)."""
    extra = {"channelId": channel} if channel else {}
    body = activity("help", service_url=connector.url, **extra)
    if channel is None:
        body.pop("channelId")
    got, _ = await bot.post(body, {"Authorization": f"Bearer {identity.sign(claims(connector))}"})
    assert got == status


async def test_key_without_endorsements_accepts_any_channel(bot, identity, connector: FakeConnector):
    kid = identity.publish(endorsements=None)
    assert await send(bot, connector, identity.sign(claims(connector), kid=kid), channelId="webchat") == 200


@pytest.mark.parametrize("lifetime,not_before,status", [
    (-240, -3600, 200),   # expired four minutes ago: within the five minutes of clock skew
    (-360, -3600, 401),   # expired six minutes ago
    (3600, 240, 200),     # valid from four minutes from now
    (3600, 360, 401),     # valid from six minutes from now
])
async def test_clock_skew(bot, identity, connector: FakeConnector, lifetime, not_before, status):
    token = identity.sign(claims(connector), lifetime=lifetime, not_before=not_before)
    assert await send(bot, connector, token) == status


async def test_unknown_kid_refetches_at_most_once_per_window(bot, identity, connector: FakeConnector):
    """Random key ids do not turn into a stream of key fetches; a key published later is picked up."""
    assert await send(bot, connector, identity.sign(claims(connector))) == 200
    await asyncio.sleep(WINDOW * 1.5)
    before = identity.bf_key_fetches
    for n in range(5):
        assert await send(bot, connector, identity.sign(claims(connector), kid=f"random-{n}")) == 401
    assert identity.bf_key_fetches == before + 1
    rotated = identity.publish(endorsements=["msteams"])
    assert await send(bot, connector, identity.sign(claims(connector), kid=rotated)) == 401  # inside the window
    await asyncio.sleep(WINDOW * 1.5)
    assert await send(bot, connector, identity.sign(claims(connector), kid=rotated)) == 200
    assert identity.bf_key_fetches == before + 2


async def test_failed_refresh_keeps_cached_keys(bot, identity, connector: FakeConnector):
    """An error answer from the key endpoint never replaces the good keys, and failures do not reopen the window."""
    assert await send(bot, connector, identity.sign(claims(connector))) == 200
    await asyncio.sleep(WINDOW * 1.5)
    identity.keys_fail = 503
    before = identity.bf_key_fetches
    assert await send(bot, connector, identity.sign(claims(connector), kid="unknown")) == 401  # refetch fails
    assert await send(bot, connector, identity.sign(claims(connector), kid="unknown-2")) == 401
    assert identity.bf_key_fetches == before + 1  # the failed attempt counts against the window
    assert await send(bot, connector, identity.sign(claims(connector))) == 200  # still signed in
    await asyncio.sleep(WINDOW * 1.5)
    identity.keys_fail = None
    rotated = identity.publish(endorsements=["msteams"])
    assert await send(bot, connector, identity.sign(claims(connector), kid=rotated)) == 200


async def test_failed_first_fetch_recovers(sqlite_url, connector: FakeConnector, http, identity):
    """Keys unavailable at start: 401, never 500; once the provider answers, tokens are accepted."""
    identity.keys_fail = 500
    config = test_config(sqlite_url, app_id=APP_ID, app_password="secret", openid_url=identity.openid_url,
                         login_url=identity.token_url, key_refetch_seconds=WINDOW)
    _app, runner, url = await start_app(config)
    try:
        bot = Bot(url, connector.url, http)
        assert await send(bot, connector, identity.sign(claims(connector))) == 401
        identity.keys_fail = None
        await asyncio.sleep(WINDOW * 1.5)
        assert await send(bot, connector, identity.sign(claims(connector))) == 200
        assert len(connector.texts(GROUP)) == 1
    finally:
        await runner.cleanup()


@service_process.NEEDS_UNSHARE
async def test_first_token_on_a_freshly_booted_host(tmp_path: Path, identity, connector: FakeConnector, http):
    """On a host up for seconds (a time namespace whose monotonic clock reads ~5 s) the keys are still fetched
    and the first valid token is accepted."""
    shift = f"-{max(int(time.monotonic()) - 5, 0)}"  # CLOCK_MONOTONIC counts from boot
    env = service_process.service_env(
        tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword="secret", GRAPH_AUTH="none",
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=identity.openid_url,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=identity.token_url)
    proc, url = await asyncio.to_thread(
        service_process.start, tmp_path, env, ["unshare", "--time", f"--monotonic={shift}", f"--boottime={shift}"])
    try:
        bot = Bot(url, connector.url, http)
        assert await send(bot, connector, identity.sign(claims(connector))) == 200, proc.tail()
    finally:
        proc.stop()
