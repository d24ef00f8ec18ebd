"""What the Graph gateway decides without the SDK: URLs, ids, batching, the Teams-license rule, the time budget
and the wording of errors. Kept out of gateway.py so it imports nothing heavy and is easy to read and test."""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import re
import time
from collections.abc import Awaitable, Iterable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import urlsplit

from domain.ports import GatewayError

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
SCOPE = "https://graph.microsoft.com/.default"
# Graph's own hosts (global and national clouds). An odata.bind URL must name Graph itself, so binds use the
# configured host only when it is one of these and the public one otherwise (emulators, fakes, proxies).
GRAPH_HOSTS = frozenset({"graph.microsoft.com", "graph.microsoft.us", "dod-graph.microsoft.us",
                         "microsoftgraph.chinacloudapi.cn"})
MAX_CHAT_MEMBERS = 250  # Teams: people in a group chat
# Graph documents no topic length; Teams trims long chat names in its UI. 250 keeps well clear of any limit.
MAX_TOPIC = 250
PRESENCE_BATCH = 650  # getPresencesByUserId: ids per request
FILTER_IN_LIMIT = 15  # values per `in (...)` in a directory $filter
FULL_HISTORY = "0001-01-01T00:00:00Z"  # visibleHistoryStartDateTime that shares the whole chat history
# A user can use Teams when an assigned plan of the Teams service is active. Every Teams service plan (Teams
# Enterprise, Teams Essentials, Teams for government or education, Teams Exploratory...) reports the service
# "TeamspaceAPI"; "Warning" is the grace period after a subscription lapses, when Teams still works.
TEAMS_SERVICE = "teamspaceapi"
ACTIVE_PLAN_STATUSES = frozenset({"enabled", "warning"})
MIN_ATTEMPT_SECONDS = 0.25  # a retry is only worth starting with at least this much budget left after the wait

# Entra object ids are GUIDs; anything outside this alphabet could break out of an odata.bind or a $filter.
_SAFE_ID = re.compile(r"^[0-9A-Za-z-]{1,64}$")
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar("graph_deadline", default=None)
T = TypeVar("T")


def normalize_base_url(url: str | None) -> str:
    """GRAPH_BASE_URL without a trailing slash (the SDK appends "/chats" etc. itself)."""
    url = (url or "").strip() or DEFAULT_BASE_URL
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"GRAPH_BASE_URL must be an http(s) URL such as {DEFAULT_BASE_URL}, not {url!r}")
    return url.rstrip("/")


def token_safe(base_url: str) -> bool:
    """Whether a bearer token may be sent there (never over plain http off localhost)."""
    parts = urlsplit(base_url)
    return parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")


def bind_root(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme == "https" and parts.hostname in GRAPH_HOSTS:
        return base_url
    return DEFAULT_BASE_URL


def token_scope(base_url: str) -> str:
    """The .default scope of the Graph cloud in use (national clouds have their own)."""
    host = urlsplit(base_url).hostname
    return f"https://{host}/.default" if host in GRAPH_HOSTS else SCOPE


def rebase(link: str, base_url: str) -> str:
    """Point an @odata.nextLink at the configured host, so paging keeps going through GRAPH_BASE_URL (and the
    token, which is only attached for that host)."""
    link_parts, base = urlsplit(link), urlsplit(base_url)
    return link_parts._replace(scheme=base.scheme, netloc=base.netloc).geturl()


def safe_id(value: str) -> bool:
    return bool(_SAFE_ID.match(value or ""))


def user_bind(root: str, aad_object_id: str) -> str:
    """The user@odata.bind URL of a user, refusing anything that is not an id."""
    if not safe_id(aad_object_id):
        raise GraphError(f"{aad_object_id!r} is not a Microsoft Entra user id.")
    return f"{root}/users('{aad_object_id}')"


def unique(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order, compared case-insensitively (GUIDs)."""
    seen: dict[str, str] = {}
    for v in values:
        seen.setdefault(v.lower(), v)
    return list(seen.values())


def chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i:i + size] for i in range(0, len(items), size)]


async def gather_limited(limit: int, jobs: Sequence[Awaitable[T]]) -> list[T]:
    """Run jobs at most `limit` at a time; the first failure cancels the rest (no stray requests)."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Awaitable[T]) -> T:
        async with gate:
            return await job

    tasks = [asyncio.ensure_future(one(j)) for j in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for t in tasks:
            t.cancel()
        raise


def id_filter(ids: Sequence[str]) -> str:
    return "id in (" + ",".join(f"'{i}'" for i in ids) + ")"


def clean_topic(topic: str | None) -> str | None:
    """A chat topic on one line, trimmed to MAX_TOPIC characters; None when empty."""
    text = " ".join((topic or "").split())
    if len(text) > MAX_TOPIC:
        text = text[:MAX_TOPIC - 1].rstrip() + "…"
    return text or None


def has_teams(plans: Iterable[tuple[str | None, str | None]]) -> bool:
    """True when one of the (service, capabilityStatus) pairs of a user's assignedPlans is an active Teams plan."""
    return any((s or "").lower() == TEAMS_SERVICE and (c or "").lower() in ACTIVE_PLAN_STATUSES for s, c in plans)


# -- time budget --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def budget(seconds: float) -> Iterator[None]:
    """Give every Graph call made inside this block (in this task and tasks it starts) `seconds` in total.

    Without a block each gateway call gets the gateway's default budget; background work that may take longer
    (creating a chat, then installing the app, then posting) can wrap itself in a larger one.
    """
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def remaining() -> float | None:
    deadline = _DEADLINE.get()
    return None if deadline is None else deadline - time.monotonic()


def wait_fits(delay: float) -> bool:
    """Whether waiting `delay` seconds before a retry still leaves time for the retried request."""
    left = remaining()
    return left is None or left - delay >= MIN_ATTEMPT_SECONDS


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: an integer or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# -- errors -------------------------------------------------------------------------------------------------

class GraphError(GatewayError):
    """A Graph call failed. The message is safe to show a user; status and retry_after help callers decide."""

    def __init__(self, message: str, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


def status_text(status: int) -> str:
    try:
        return f"{status} {HTTPStatus(status).phrase}"
    except ValueError:
        return str(status)


def api_error(action: str, permission: str, status: int | None, headers: Any) -> GraphError:
    """The user-facing error for a failed Graph response (after any retries)."""
    if status is None:
        return GraphError(f"Microsoft Graph gave an unexpected answer when asked to {action}. Try again later.")
    text = status_text(status)
    retry_after = retry_after_seconds(headers.get("retry-after") if headers is not None else None)
    if status in (429, 503, 504):
        n = max(1, round(retry_after or 0))
        wait = f"in {n} second{'s' if n > 1 else ''}" if retry_after else "in a moment"
        return GraphError(f"Microsoft Graph is busy and could not {action} in time ({text}). Try again {wait}.",
                          status, retry_after)
    hint = ""
    if status in (401, 403):
        hint = f" An administrator may need to grant this app the Graph permission {permission}."
    return GraphError(f"Microsoft Graph refused to {action} ({text}).{hint}", status)


def timeout_error(action: str, seconds: float, maybe_done: bool = False) -> GraphError:
    done = " It may still have happened: check before trying again." if maybe_done else " Try again in a moment."
    return GraphError(f"Microsoft Graph did not answer in time (after {seconds:.1f} s) when asked to {action}.{done}")


def unreachable_error(action: str) -> GraphError:
    return GraphError(f"Microsoft Graph could not be reached to {action}. Try again in a moment.")
