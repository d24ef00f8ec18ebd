"""Operational telemetry: the calls the rest of the service makes. Off by default, and then every call returns at
once (one attribute test), so the hot path pays nothing; telemetry.setup switches it on from the configuration.

Attributes and labels are a fixed vocabulary (kinds, command names, reasons, states, tenant ids, HTTP statuses):
never message text, tokens, keys or anything else a sender chose."""
from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import Any

# Correlation for logs (LOG_FORMAT=json), set whether or not telemetry is on: a contextvar set costs ~50 ns.
ACTIVITY_ID: ContextVar[str] = ContextVar("activity_id", default="")
OPERATION_ID: ContextVar[str] = ContextVar("operation_id", default="")

# The metrics as a Prometheus scrape shows them (telemetry.setup creates them; infra/grafana charts them).
PROMETHEUS_METRICS = ("cc_turn_duration_seconds", "cc_outbox_depth", "cc_outbox_oldest_age_seconds",
                      "cc_teams_posts_total", "cc_teams_throttled_total", "cc_token_refusals_total",
                      "cc_cloud_throttled_total", "cc_webhook_requests_total")
OutboxSampler = Callable[[], Awaitable[Mapping[str, tuple[int, float]]]]


class _State:
    """The live instruments; `on` is False until telemetry.setup.start fills them in."""
    on = False
    tracer: Any = None
    turn_seconds: Any = None
    posts: Any = None
    teams_throttled: Any = None
    refusals: Any = None
    cloud_throttled: Any = None
    webhooks: Any = None
    outbox: dict[str, tuple[int, float]] = {}  # state -> (items, oldest age in s), refreshed in the background
    outbox_sampler: OutboxSampler | None = None


S = _State()


@contextlib.contextmanager
def span(name: str, attributes: Mapping[str, str | int] | None = None) -> Iterator[Any]:
    """A span around a unit of work (a child of the current one); yields None when telemetry is off."""
    if not S.on:
        yield None
        return
    with S.tracer.start_as_current_span(name, attributes=dict(attributes or {})) as current:
        yield current


def annotate(current: Any, **attributes: Any) -> None:
    if current is not None:
        current.set_attributes(attributes)


def turn(kind: str, command: str, outcome: str, seconds: float) -> None:
    if S.on:
        S.turn_seconds.record(seconds, {"kind": kind, "command": command, "outcome": outcome})


def token_refused(reason: str) -> None:
    if S.on:
        S.refusals.add(1, {"reason": reason})


def teams_post(tenant: str, status: int) -> None:
    """One Bot Connector POST (reply or proactive card) and its HTTP status."""
    if S.on:
        labels = {"tenant": tenant or "unknown", "status": str(status)}
        S.posts.add(1, labels)
        if status == 429:
            S.teams_throttled.add(1, {"tenant": labels["tenant"]})


def cloud_throttled(service: str, status: int) -> None:
    """Microsoft Graph or Dataverse answered 429 (or 503 with Retry-After)."""
    if S.on:
        S.cloud_throttled.add(1, {"service": service, "status": str(status)})


def webhook(outcome: str) -> None:
    if S.on:
        S.webhooks.add(1, {"outcome": outcome})


def watch_outbox(sampler: OutboxSampler) -> None:
    """Where the outbox depth and oldest age by state come from (sampled in the background when on)."""
    S.outbox_sampler = sampler
