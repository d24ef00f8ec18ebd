"""AI-suggested contacts: people who resolved cases similar to this one, ranked from the four factors Dynamics 365
publishes (how many similar cases, how similar, how recently, how quickly), deterministically and with a reason.

Pure: the engine (store/similar.py) finds the similar resolved cases; this module turns their text into a query
and the hits into ranked people. The reason carries counts and ages only, never a case's number or title, so it
cannot leak a case the agent may not read."""
from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

SECTION = "Resolved similar cases"
OTHER_SECTION = "Resolved similar records"  # any other type with a resolution state (issue 16, item 5)
MAX_TERMS = 24  # query terms taken from the open case (the rarest-looking: longest first)
MAX_TEXT = 20_000  # characters of a case indexed; a pasted log beyond that adds noise, not meaning
TOP_CASES = 50  # similar cases the ranking looks at
HALF_LIFE_DAYS = 180.0  # a resolution this old counts half as much as one today
SPEED_DAYS = 7.0  # typical time to resolve at which the speed factor is 1/2 of its range
NO_DATE_RECENCY = 0.5  # a resolution without a date is neither fresh nor stale

_TAG = re.compile(r"<[^>]{0,2000}>")
_WORD = re.compile(r"[^\W_]{2,40}")
# Words too common in support text to say anything about the problem (plus English function words).
STOPWORDS = frozenset("""
a an and are as at be been but by can cannot could did do does doing for from had has have having he her his how
i if in into is it its me my no not of on or our out she so some than that the their them then there these they
this those to too very was we were what when where which while who why will with would you your yours also just
after before again any all am about above below up down off over under only own same such both each few more most
other nor once here via per get got getting please hi hello thanks thank regards dear team issue issues problem
problems case customer help need needs needed still since anyone someone something
""".split())


@dataclass(frozen=True)
class Hit:
    """One similar resolved case as the engine found it. score: the engine's relevance, larger is more similar."""
    record_id: str
    resolved_by: str
    score: float
    resolved_at: datetime | None
    created_at: datetime | None


@dataclass(frozen=True)
class IndexedCase:
    """A resolved case as the index keeps it: its text (configured fields), who resolved it and when."""
    record_type: str
    record_id: str
    text: str
    resolved_by: str
    resolved_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Expert:
    user_id: str
    score: float
    cases: int
    latest_days: int | None  # days since the most recent dated resolution
    typical_days: float | None  # median days from creation to resolution
    reason: str


def parse_when(text: Any) -> datetime | None:
    """A record's date as text: ISO 8601 (the local directory) or Dataverse's formatted "11/20/2026 9:15 AM" (UTC
    when no zone is given); None when it is neither, so a case without a usable date still indexes."""
    value = str(text or "").strip()
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        try:
            at = datetime.strptime(value, "%m/%d/%Y %I:%M %p")
        except ValueError:
            return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def plain_text(value: str) -> str:
    """Rich text (Dataverse descriptions are often HTML) to plain words, capped at MAX_TEXT."""
    text = html.unescape(_TAG.sub(" ", value or "")).replace("\x00", " ")
    return " ".join(text.split())[:MAX_TEXT]


def case_text(values: Mapping[str, str], fields: Sequence[str]) -> str:
    return plain_text(" \n ".join(str(values.get(f) or "") for f in fields))


def query_terms(text: str) -> list[str]:
    """Distinct content words of the open case, longest first (long words are rarer and say more), capped."""
    words = [w for w in _WORD.findall(plain_text(text).lower()) if w not in STOPWORDS and not w.isdigit()]
    distinct = list(dict.fromkeys(words))
    return sorted(distinct, key=lambda w: (-len(w), distinct.index(w)))[:MAX_TERMS]


def section(record_type: str) -> str:
    """The section's name: Dynamics 365's for cases, a neutral one for other types."""
    return SECTION if record_type == "incident" else OTHER_SECTION


def rank(hits: Sequence[Hit], now: datetime, threshold: float, eligible: Iterable[str] | None = None,
         limit: int | None = None, noun: str = "case") -> list[Expert]:
    """Rank resolvers of the similar cases.

    similarity = the hit's score / the best hit's score (0..1; engines score on different scales); hits below
    `threshold` are dropped. A person's score is the sum over their similar cases of similarity x recency
    (0.5 ** (age / HALF_LIFE_DAYS)), times a speed factor 0.75 + 0.25 / (1 + typical days / SPEED_DAYS). So more
    cases, more similar cases and more recent cases all raise it; speed breaks near-ties. Ties: user id order.
    `eligible`, when given, keeps only those people (active, licensed...)."""
    top = max((h.score for h in hits), default=0.0)
    if top <= 0:
        return []
    allowed = set(eligible) if eligible is not None else None
    mine: dict[str, list[tuple[float, Hit]]] = {}
    for hit in hits:
        sim = hit.score / top
        if sim >= threshold and hit.resolved_by and (allowed is None or hit.resolved_by in allowed):
            mine.setdefault(hit.resolved_by, []).append((sim, hit))
    experts = [_expert(user, cases, now, noun) for user, cases in mine.items()]
    experts.sort(key=lambda e: (-round(e.score, 9), e.user_id))
    return experts[:limit] if limit is not None else experts


def _expert(user: str, cases: list[tuple[float, Hit]], now: datetime, noun: str) -> Expert:
    ages = [_days(now, h.resolved_at) for _, h in cases if h.resolved_at is not None]
    durations = sorted(_days(h.resolved_at, h.created_at) for _, h in cases
                       if h.resolved_at is not None and h.created_at is not None and h.resolved_at >= h.created_at)
    typical = _median(durations)
    speed = 0.75 + 0.25 / (1 + (typical if typical is not None else SPEED_DAYS) / SPEED_DAYS)
    total = sum(sim * _recency(now, h.resolved_at) for sim, h in cases) * speed
    latest = math.floor(min(ages)) if ages else None
    return Expert(user, total, len(cases), latest, typical, reason(len(cases), latest, typical, noun))


def reason(cases: int, latest_days: int | None, typical_days: float | None, noun: str = "case") -> str:
    """"resolved 4 similar cases, latest 6 days ago, typically in 2 days": counts and ages, never a case."""
    parts = [f"resolved {_n(cases, 'similar ' + noun)}"]
    if latest_days is not None:
        parts.append("latest today" if latest_days == 0 else f"latest {_n(latest_days, 'day')} ago")
    if typical_days is not None:
        parts.append("typically within a day" if typical_days < 1 else f"typically in {_n(round(typical_days), 'day')}")
    return ", ".join(parts)


def _n(count: int, unit: str) -> str:
    return f"{count} {unit}{'s' if count != 1 else ''}"


def _days(later: datetime, earlier: datetime) -> float:
    return max(0.0, (later - earlier).total_seconds() / 86400)


def _recency(now: datetime, at: datetime | None) -> float:
    return NO_DATE_RECENCY if at is None else 0.5 ** (_days(now, at) / HALF_LIFE_DAYS)


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
