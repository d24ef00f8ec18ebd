"""Switches telemetry on from the configuration: OpenTelemetry SDK providers, the aiohttp server/client and asyncpg
instrumentations, and the exporters asked for (Prometheus scrape endpoint, OTLP, Azure Monitor). Nothing here is
imported when every exporter is off. The providers are process-wide (OpenTelemetry's global API)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from telemetry import S

log = logging.getLogger(__name__)
TURN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
SAMPLE_EVERY = 10.0  # seconds between outbox depth samples
_URL_KEYS = ("http.target", "http.url", "url.full", "url.query")


@dataclass(frozen=True)
class Options:
    service_name: str = "connected-chats"
    prometheus: bool = False  # a scrape endpoint (own port or token: telemetry.endpoint)
    otlp_endpoint: str = ""  # e.g. http://collector:4318 (OTLP over HTTP/protobuf)
    appinsights: str = ""  # APPLICATIONINSIGHTS_CONNECTION_STRING
    export_interval: float = 15.0

    @property
    def wanted(self) -> bool:
        return self.prometheus or bool(self.otlp_endpoint) or bool(self.appinsights)


class Handle:
    """What start() set up, for the scrape endpoint and for shutdown."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, registry: Any) -> None:
        self.tracer_provider, self.meter_provider, self.registry = tracer_provider, meter_provider, registry
        self._sampler: asyncio.Task[None] | None = None

    def start_sampling(self) -> None:
        if S.outbox_sampler is not None and self._sampler is None:
            self._sampler = asyncio.create_task(_sample_outbox())

    async def close(self) -> None:
        if self._sampler is not None:
            self._sampler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sampler
        # Flushing exporters can block on the network: not on the event loop. The providers are process-wide, so
        # telemetry stays off for the rest of this process.
        S.on = False
        await asyncio.to_thread(_shutdown, self.tracer_provider, self.meter_provider)


_ACTIVE: list[Handle] = []


def start(options: Options) -> Handle | None:
    """Turn telemetry on (once per process; a second call returns the first handle)."""
    if not options.wanted:
        return None
    if _ACTIVE:
        return _ACTIVE[0]
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.view import ExplicitBucketHistogramAggregation, View
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": options.service_name})
    readers: list[Any] = []
    registry = None
    if options.prometheus:
        from opentelemetry.exporter.prometheus import PrometheusMetricReader
        from prometheus_client import REGISTRY

        readers.append(PrometheusMetricReader())
        registry = REGISTRY
    processors: list[Any] = [_scrub_urls()]
    if options.otlp_endpoint:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        base = options.otlp_endpoint.rstrip("/")
        processors.append(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{base}/v1/traces"),
                                             schedule_delay_millis=1000))
        readers.append(PeriodicExportingMetricReader(OTLPMetricExporter(endpoint=f"{base}/v1/metrics"),
                                                     export_interval_millis=options.export_interval * 1000))
    views = [View(instrument_name="cc.turn.duration",
                  aggregation=ExplicitBucketHistogramAggregation(TURN_BUCKETS))]
    if options.appinsights:
        from azure.monitor.opentelemetry import configure_azure_monitor

        # The SDK's environment defaults (no metadata probe, no Statsbeat, no control plane) are set by config.py.
        configure_azure_monitor(connection_string=options.appinsights, resource=resource,
                                span_processors=processors, metric_readers=readers, views=views,
                                enable_live_metrics=False, instrumentation_options={"azure_sdk": {"enabled": False}})
        tracer_provider, meter_provider = trace.get_tracer_provider(), metrics.get_meter_provider()
    else:
        tracer_provider = TracerProvider(resource=resource)
        for processor in processors:
            tracer_provider.add_span_processor(processor)
        meter_provider = MeterProvider(resource=resource, metric_readers=readers, views=views)
        trace.set_tracer_provider(tracer_provider)
        metrics.set_meter_provider(meter_provider)
    _instrument(tracer_provider, meter_provider)
    _instruments(trace.get_tracer("connected-chats"), metrics.get_meter("connected-chats"))
    handle = Handle(tracer_provider, meter_provider, registry)
    _ACTIVE.append(handle)
    log.info("telemetry on: %s", ", ".join(name for name, on in (
        ("prometheus", options.prometheus), ("otlp", bool(options.otlp_endpoint)),
        ("azure-monitor", bool(options.appinsights))) if on))
    return handle


def _instrument(tracer_provider: Any, meter_provider: Any) -> None:
    from opentelemetry.instrumentation.aiohttp_client import AioHttpClientInstrumentor
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor

    # Must run before the web.Application is built: the server instrumentation wraps the class.
    AioHttpServerInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider)
    AioHttpClientInstrumentor().instrument(tracer_provider=tracer_provider, meter_provider=meter_provider,
                                           url_filter=_without_query)
    # asyncpg spans carry the statement (parameters are sent apart, never recorded).
    AsyncPGInstrumentor(capture_parameters=False).instrument(tracer_provider=tracer_provider)


def _instruments(tracer: Any, meter: Any) -> None:
    S.tracer = tracer
    S.turn_seconds = meter.create_histogram("cc.turn.duration", unit="s",
                                            description="Time to answer one Teams activity, by kind and command")
    S.posts = meter.create_counter("cc.teams.posts", description="Bot Connector posts by tenant and HTTP status")
    S.teams_throttled = meter.create_counter("cc.teams.throttled", description="Bot Connector 429s by tenant")
    S.refusals = meter.create_counter("cc.token.refusals", description="Refused bearer tokens by reason")
    S.cloud_throttled = meter.create_counter("cc.cloud.throttled",
                                             description="Graph and Dataverse throttling answers by service")
    S.webhooks = meter.create_counter("cc.webhook.requests", description="Dataverse webhook calls by outcome")
    meter.create_observable_gauge("cc.outbox.depth", [_depth], description="Outbox items by state")
    meter.create_observable_gauge("cc.outbox.oldest_age", [_age], unit="s",
                                  description="Age of the oldest outbox item by state")
    S.on = True


def _depth(_options: Any) -> list[Any]:
    from opentelemetry.metrics import Observation
    return [Observation(n, {"state": state}) for state, (n, _) in S.outbox.items()]


def _age(_options: Any) -> list[Any]:
    from opentelemetry.metrics import Observation
    return [Observation(age, {"state": state}) for state, (_, age) in S.outbox.items()]


async def _sample_outbox() -> None:
    """Metric callbacks run on the exporter's thread and cannot query the database: sample it here instead."""
    while True:
        if S.outbox_sampler is not None:
            try:
                S.outbox = dict(await S.outbox_sampler())
            except Exception as exc:  # a database hiccup must not stop sampling
                log.warning("outbox sample failed: %s", type(exc).__name__)
        await asyncio.sleep(SAMPLE_EVERY)


def _without_query(url: Any) -> str:
    parts = urlsplit(str(url))  # aiohttp's instrumentation hands over a yarl.URL
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def _scrub_urls() -> Any:
    """A span processor that drops query strings from URL attributes as spans start: a Dataverse webhook carries
    its key in ?code=, a Dataverse or Graph query a user's search text or ids."""
    from opentelemetry.sdk.trace import SpanProcessor

    class ScrubUrls(SpanProcessor):
        def on_start(self, span: Any, parent_context: Any = None) -> None:
            attributes = span.attributes or {}
            for key in _URL_KEYS:
                value = attributes.get(key)
                if isinstance(value, str) and (key == "url.query" or "?" in value):
                    span.set_attribute(key, "" if key == "url.query" else value.split("?", 1)[0])

    return ScrubUrls()


def _shutdown(tracer_provider: Any, meter_provider: Any) -> None:
    began = time.monotonic()
    for provider in (tracer_provider, meter_provider):
        with contextlib.suppress(Exception):
            provider.shutdown()
    log.info("telemetry flushed in %.2f s", time.monotonic() - began)
