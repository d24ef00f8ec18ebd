"""Telemetry through its real doors: `python app.py` with the Prometheus endpoint (own port and behind a token),
OTLP to a fake collector and JSON logs; a conversation, a refused token, a Dataverse webhook and its delivery.
What operators need is there (turn, webhook and delivery spans; turn latency, outbox, posts, refusals metrics),
and no message text, token, key or secret reaches logs, spans or metric labels."""
from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from telemetry import PROMETHEUS_METRICS
from tests import service_process
from tests.fake_connector import FakeConnector
from tests.fake_identity import FakeIdentity
from tests.fake_otlp import FakeCollector
from tests.notify_helpers import CASE, KEY, sample_body
from tests.playground_support import free_port
from tests.servers import serve
from tests.teams import GROUP, Bot, activity

APP_ID = "11111111-2222-3333-4444-555555555555"
MARKER = "zq-MARKER-5e1f-never-logged"
PASSWORD = "pw-zq-SECRET-90c2-never-logged"
METRICS_TOKEN = "metrics-token-zq-3141592653"


@pytest.fixture
async def collector() -> AsyncIterator[FakeCollector]:
    fake = await FakeCollector().start()
    yield fake
    await fake.stop()


async def _scrape(http: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    async with http.get(url, headers=headers or {}) as resp:
        return resp.status, await resp.text()


async def test_spans_metrics_and_json_logs_without_secrets(tmp_path: Path, connector: FakeConnector,
                                                           identity: FakeIdentity, collector: FakeCollector):
    metrics_port = free_port()
    env = service_process.service_env(
        tmp_path, MicrosoftAppId=APP_ID, MicrosoftAppPassword=PASSWORD, GRAPH_AUTH="none",
        GRAPH_BASE_URL="http://127.0.0.1:9/v1.0",  # the sample reassigns its case: the lifecycle checks Graph
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=identity.openid_url, TO_CHANNEL_FROM_BOT_LOGIN_URL=identity.token_url,
        DATAVERSE_WEBHOOK_KEY=KEY, METRICS_PORT=str(metrics_port), METRICS_TOKEN=METRICS_TOKEN,
        OTEL_EXPORTER_OTLP_ENDPOINT=collector.url, LOG_FORMAT="json", PUBLIC_URL="https://cc.example")
    proc, url = await asyncio.to_thread(service_process.start, tmp_path, env, None, "service", 45,
                                        tmp_path / "egress.txt")
    http = aiohttp.ClientSession()  # closed before the service stops, so its shutdown waits on no connection
    bot = Bot(url, connector.url, http)
    token = identity.sign({"iss": "https://api.botframework.com", "aud": APP_ID, "serviceurl": connector.url})
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for text in (f"help {MARKER}", f"connect case {CASE}", f"{MARKER} please"):
            status, _ = await bot.post(activity(text, service_url=connector.url), auth)
            assert status == 200
        forged = token[:-8] + "AAAAAAAA"
        status, _ = await bot.post(activity(f"help {MARKER}", service_url=connector.url),
                                   {"Authorization": f"Bearer {forged}"})
        assert status == 401
        async with http.post(f"{url}/api/dataverse/webhook?code={KEY}", json=sample_body()) as resp:
            assert resp.status == 200
        for _ in range(50):
            if any("updated" in json.dumps(a) for a in connector.by_conversation[GROUP]):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(service_process_sample_wait())
        own_port = await _scrape(http, f"http://127.0.0.1:{metrics_port}/metrics")
        no_token = await _scrape(http, f"{url}/metrics")
        with_token = await _scrape(http, f"{url}/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"})
    finally:
        await http.close()
        await asyncio.to_thread(proc.stop)
    log_text = proc.log.read_text()
    assert own_port[0] == 200 and with_token[0] == 200 and no_token[0] == 401
    metrics = own_port[1]

    # What an operator watches.
    exported_names = {re.sub(r"_(bucket|count|sum|created)$", "", n) for n in re.findall(r"^(cc_\w+)", metrics, re.M)}
    assert exported_names <= set(PROMETHEUS_METRICS), exported_names - set(PROMETHEUS_METRICS)
    assert 'cc_turn_duration_seconds_count{command="help",kind="message"' in metrics
    assert 'command="unknown"' in metrics  # a sender's first word never becomes a label
    assert 'cc_token_refusals_total{' in metrics and 'reason="signature"' in metrics
    assert 'cc_teams_posts_total{' in metrics and 'status="200"' in metrics
    assert 'cc_outbox_depth{' in metrics and 'state="pending"' in metrics
    assert 'cc_outbox_oldest_age_seconds{' in metrics
    assert 'cc_webhook_requests_total{' in metrics and 'outcome="ok"' in metrics
    spans = collector.spans()
    names = {name for name, _ in spans}
    assert {"teams.turn", "dataverse.webhook", "outbox.deliver"} <= names, (names, log_text[-3000:])
    turns = [a for name, a in spans if name == "teams.turn"]
    assert {(a["cc.turn.kind"], a["cc.turn.command"], a["cc.turn.outcome"]) for a in turns} >= {
        ("message", "help", "ok"), ("message", "connect", "ok"), ("message", "unknown", "ok"),
        ("message", "", "refused")}  # an unauthenticated body is not read for a command
    delivered = [a for name, a in spans if name == "outbox.deliver"]
    assert delivered and delivered[0]["cc.outcome"] == "delivered"

    # One JSON object per line, correlated.
    records = [json.loads(line) for line in log_text.splitlines() if line.startswith("{")]
    assert records and all({"time", "level", "logger", "message"} <= r.keys() for r in records)
    assert any(r.get("activity_id") and r.get("operation_id") for r in records)

    # Never: message text, tokens, keys, secrets.
    exported = collector.raw()
    for secret in (MARKER, token, forged, token.split(".")[2], KEY, PASSWORD, METRICS_TOKEN, "outgoing-1"):
        assert secret not in log_text, f"{secret[:20]} in the log"
        assert secret not in metrics, f"{secret[:20]} in /metrics"
        assert secret.encode() not in exported, f"{secret[:20]} exported over OTLP"
    assert (tmp_path / "egress.txt").exists() is False


def service_process_sample_wait() -> float:
    """The outbox gauges are sampled every 10 s in the background; the first sample runs at start."""
    return 0.5


async def test_azure_monitor_exports_to_the_configured_ingestion_endpoint(tmp_path: Path, connector: FakeConnector):
    """APPLICATIONINSIGHTS_CONNECTION_STRING: telemetry goes to the connection string's ingestion endpoint (here a
    fake on loopback) and nowhere else (no metadata-endpoint probe), without the message text."""
    received: list[bytes] = []

    async def track(request: web.Request) -> web.Response:
        received.append(await request.read())
        return web.json_response({"itemsReceived": 1, "itemsAccepted": 1, "errors": []})

    ingestion = web.Application()
    ingestion.router.add_post("/v2.1/track", track)
    runner, ingest_url = await serve(ingestion)
    report = tmp_path / "egress.txt"
    env = service_process.service_env(tmp_path, GRAPH_AUTH="none",
                                      APPLICATIONINSIGHTS_CONNECTION_STRING=(
                                          "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                                          f"IngestionEndpoint={ingest_url};LiveEndpoint={ingest_url}"))
    proc, url = await asyncio.to_thread(service_process.start, tmp_path, env, None, "service", 45, report)
    try:
        async with aiohttp.ClientSession() as http:
            status, _ = await Bot(url, connector.url, http).say(f"help {MARKER}")
            assert status == 200
        await asyncio.to_thread(proc.stop)
    finally:
        proc.stop()
        await runner.cleanup()
    assert not report.exists(), report.read_text()
    body = b"".join(received)
    # Metrics always arrive; the span batch may miss the shutdown flush on a loaded machine (seen in CI-like runs),
    # so the span itself is checked through OTLP in the test above and here only what reached the endpoint.
    assert b"ApplicationInsights" in body, proc.tail()
    assert MARKER.encode() not in body
