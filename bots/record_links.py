"""A CRM record link in a command (`connect https://contoso.crm.dynamics.com/main.aspx?appid=...&etn=incident&id=...`):
the record, and the app the agent works in when the link names one (appid), so the app scope applies (EN-02)."""
from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urlparse

_URL = re.compile(r"https://\S+")


@dataclass(frozen=True)
class RecordLink:
    table: str
    record_id: str
    app_id: str | None


def record_link(text: str) -> RecordLink | None:
    """The first https link in `text` that names a table (etn) and a record (id); None otherwise."""
    for match in _URL.finditer(text or ""):
        parts = urlparse(match.group(0).rstrip(".,;)>"))
        query = {k: v[0] for k, v in parse_qs(parts.query).items() if v}
        table, rid = query.get("etn", "").strip(), query.get("id", "").strip("{} ")
        if table and rid:
            return RecordLink(table.lower(), rid, query.get("appid", "").strip("{} ") or None)
    return None
