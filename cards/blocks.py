"""Adaptive Card pieces built as dicts, for the cards on the hot path (the `records` card, on every `records`
command and card button): the same elements as the macros in templates/_macros.j2, without a template render and
a JSON re-parse per turn (profiled: ~40 % of a `records` turn). Values are placed, never concatenated into JSON,
so record text cannot break the card."""
from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"


def card(body: list[dict[str, Any]]) -> dict[str, Any]:
    return {"type": "AdaptiveCard", "$schema": SCHEMA, "version": "1.5", "body": body}


def plain(text: str, size: str | None = None, weight: str | None = None, subtle: bool = False) -> dict[str, Any]:
    """Text shown as is: a TextRun is never read as markdown (macro `plain`)."""
    run: dict[str, Any] = {"type": "TextRun", "text": text}
    if size:
        run["size"] = size
    if weight:
        run["weight"] = weight
    if subtle:
        run["isSubtle"] = True
    return {"type": "RichTextBlock", "inlines": [run]}


def titled(name: str, key: str, number: str | None) -> str:
    """"Name (NUMBER)", or the name alone when the record has no number or it is the name (macro `titled`)."""
    return (name or key) + (f" ({number})" if number and number != name else "")


def small_subtle(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "wrap": True, "size": "Small", "isSubtle": True, "text": text}


def action(verb: str, title: str, data: dict[str, Any]) -> dict[str, Any]:
    """Action.Execute for Teams with an Action.Submit fallback carrying the same data plus the verb."""
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": data,
            "fallback": {"type": "Action.Submit", "title": title, "data": dict(data, verb=verb)}}


def open_url(title: str, url: str) -> dict[str, Any]:
    return {"type": "Action.OpenUrl", "title": title, "url": url}


def when(value: datetime | None) -> str:
    """Adaptive Cards format {{DATE()}}/{{TIME()}} in the reader's own time zone, so send UTC ISO (filter `when`)."""
    return "" if value is None else _when(value, value.utcoffset())


@lru_cache(maxsize=4096)
def _when(value: datetime, _offset: object) -> str:
    """Remembered (by instant and offset): a chat's connections are cached, so `records` cards show the same times."""
    at = value.strftime("%Y-%m-%dT%H:%M:%SZ")
    return "{{DATE(" + at + ", SHORT)}} {{TIME(" + at + ")}}"
