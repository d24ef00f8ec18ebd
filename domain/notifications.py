"""Key-update notifications (NOTIFY-01..04), pure: which changes a chat hears about, how several quick changes
to one record merge into one card, how rich text is shown, and which settings are refused and why."""
from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

from domain.model import ChangeEvent, FieldChange, RecordType
from domain.settings import MAX_WATCHED, RecordTypeSettings

UNKNOWN = "(unknown)"  # an old value the CRM did not send (payload over 256 KB arrives without images)
MAX_VALUE = 500  # characters of one value on the card; a long description must not crowd out the rest
NOTIFY_REFUSED_TYPES = ("PartyList", "Image", "Integer", "File")  # NOTIFY-03, named in the admin's message


@dataclass(frozen=True)
class Update:
    """One card's worth: the watched changes of one record, who made them and when."""
    record_type: str
    record_id: str
    type_label: str
    name: str
    url: str
    changes: tuple[FieldChange, ...]
    changed_by: str
    changed_at: datetime


def watched_changes(event: ChangeEvent, rtype: RecordType, rts: RecordTypeSettings | None) -> list[FieldChange]:
    """NOTIFY-02: the watched attributes this event changed, in the admin's order; nothing when notify is off."""
    if rts is None or not rts.notify or rtype.virtual or not rtype.update_events:
        return []
    out = []
    for name in rts.watched:
        attr = rtype.attributes.get(name)
        if name not in event.changed or (attr is not None and not attr.watch_supported):
            continue
        old, new = (display_text(v) for v in event.changed[name])
        if old != new:  # Dataverse lists every column the caller sent, changed or not
            out.append(FieldChange(name, rtype.label(name), old, new))
    return out


def coalesce(updates: Sequence[Update]) -> Update:
    """Merge quick successive updates of one record (oldest first) into one card: each field keeps its first
    old value and every later value, so a change that was undone still shows (Normal → High → Normal)."""
    if not updates:
        raise ValueError("nothing to coalesce")
    first, last = updates[0], updates[-1]
    chains: dict[str, list[str]] = {}
    labels: dict[str, str] = {}
    for update in updates:
        for change in update.changes:
            chain = chains.setdefault(change.attribute, [change.old])
            labels[change.attribute] = change.label
            if chain[-1] != change.new:
                chain.append(change.new)
    changes = tuple(FieldChange(a, labels[a], chain[0], " → ".join(chain[1:]) or chain[0])
                    for a, chain in chains.items())
    authors = list(dict.fromkeys(u.changed_by for u in updates if u.changed_by))
    return Update(first.record_type, first.record_id, last.type_label, last.name or first.name, last.url or first.url,
                  changes, ", ".join(authors), max(u.changed_at for u in updates))


# -- rich text (NOTIFY-04) -------------------------------------------------------------------------------------

_TAGLIKE = re.compile(r"<\s*/?\s*[a-zA-Z][^>]*>")
_BLOCK = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "ul",
                    "ol", "table"})
_SKIP = frozenset({"script", "style", "head", "title", "template"})
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_LINES = re.compile(r"\n\s*\n+")


class _Text(HTMLParser):
    """Collects the visible text; an inline image becomes "[image]". Never raises on broken markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag == "img":
            self.parts.append(" [image] ")
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def display_text(value: Any) -> str:
    """A value as card text: rich text (HTML) reduced to its words with "[image]" for inline images,
    whitespace tidied, long text shortened. Plain text passes through unchanged apart from trimming."""
    text = "" if value is None else str(value)
    if _TAGLIKE.search(text):
        parser = _Text()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    elif "&" in text:
        text = html.unescape(text)
    text = _SPACES.sub(" ", text)
    text = _LINES.sub("\n", "\n".join(line.strip() for line in text.split("\n"))).strip()
    return text if len(text) <= MAX_VALUE else text[: MAX_VALUE - 1].rstrip() + "…"


# -- settings (NOTIFY-01, NOTIFY-03) -----------------------------------------------------------------------------

def notify_refusal(rtype: RecordType) -> str | None:
    """Why this record type cannot notify at all, or None when it can."""
    if rtype.virtual:
        return (f"{rtype.display_name} is a virtual table: its rows live outside the CRM and raise no update "
                "events, so key-update notifications can't be configured for it")
    if not rtype.update_events:
        return (f"{rtype.display_name} can't raise update events, so key-update notifications can't be "
                "configured for it")
    return None


def validate_notify(rtype: RecordType, notify: bool, watched: Sequence[str]) -> list[str]:
    """Every reason the admin's notify toggle and watched attributes are refused (empty when they're fine)."""
    problems = []
    if (notify or watched) and (why := notify_refusal(rtype)):
        return [why]
    if len(watched) > MAX_WATCHED:
        problems.append(f"At most {MAX_WATCHED} attributes can be watched; {len(watched)} were chosen.")
    if notify and not watched:
        problems.append("Choose at least one attribute to notify on, or turn notifications off.")
    seen: set[str] = set()
    for name in watched:
        if name in seen:
            problems.append(f"{rtype.label(name)} ({name}) is chosen twice.")
            continue
        seen.add(name)
        problems += _attribute_problems(rtype, name)
    return problems


def _attribute_problems(rtype: RecordType, name: str) -> list[str]:
    attr = rtype.attributes.get(name)
    if attr is None:
        return [f"{rtype.display_name} has no attribute {name!r}."]
    if attr.type in NOTIFY_REFUSED_TYPES:
        return [f"{attr.display_name} ({name}) is a {attr.type} column; {', '.join(NOTIFY_REFUSED_TYPES[:-1])} "
                f"and {NOTIFY_REFUSED_TYPES[-1]} columns can't be watched."]
    if not attr.watch_supported:
        return [f"{attr.display_name} ({name}) is a {attr.type} column, which can't be shown in a notification."]
    return []
