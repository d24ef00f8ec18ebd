"""Which record a pasted link points to: a Dynamics 365 / Dataverse record form
(`main.aspx?...&pagetype=entityrecord&etn=<table>&id=<guid>`, with or without `appid`) or this service's own
record page (`<PUBLIC_URL>/tabs/record?type=<type>&id=<id or number>`). Anything else is not a record link."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

MAX_URL = 2048
_GUID = re.compile(r"^\{?([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\}?$")
_NAME = re.compile(r"^[A-Za-z][\w ]{0,99}$")


@dataclass(frozen=True)
class RecordLink:
    record_type: str
    key: str


def parse(url: str, public_url: str) -> RecordLink | None:
    if not isinstance(url, str) or len(url) > MAX_URL:
        return None
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    # Dynamics puts the parameters in the query; some links repeat them after a '#'.
    query = {k.lower(): v[0] for k, v in parse_qs(parts.query + "&" + parts.fragment).items() if v}
    if parts.path.lower().endswith("/main.aspx"):
        return _dynamics(query)
    own = urlsplit(public_url.rstrip("/")) if public_url else None
    if own and own.hostname and parts.hostname == own.hostname and parts.port == own.port \
            and parts.path.rstrip("/") == own.path.rstrip("/") + "/tabs/record":
        kind, key = query.get("type", "").strip(), query.get("id", "").strip()
        if _NAME.match(kind) and 0 < len(key) <= 200:
            return RecordLink(kind, key)
    return None


def _dynamics(query: dict[str, str]) -> RecordLink | None:
    if query.get("pagetype", "").lower() != "entityrecord":
        return None
    table, match = query.get("etn", "").strip().lower(), _GUID.match(query.get("id", "").strip())
    if not match or not re.match(r"^[a-z][a-z0-9_]{0,99}$", table):
        return None
    return RecordLink(table, match.group(1).lower())
