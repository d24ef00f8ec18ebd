"""Renders Jinja templates into Adaptive Card dicts. Every value passes through the `j` filter (json.dumps),
so record text can never break out of its JSON string."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from domain.chat_names import chat_link

MAX_CARD_BYTES = 80_000  # Teams accepts about 100 KB per message; keep room for the activity envelope
_TRUNCATED = " … (truncated)"


def _j(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _when(value: datetime | None) -> str:
    # Adaptive Cards format {{DATE()}}/{{TIME()}} in the reader's own time zone, so send UTC ISO.
    if value is None:
        return ""
    return "{{DATE(" + value.strftime("%Y-%m-%dT%H:%M:%SZ") + ", SHORT)}} {{TIME(" + \
        value.strftime("%Y-%m-%dT%H:%M:%SZ") + ")}}"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
    autoescape=False, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
    auto_reload=False, extensions=["jinja2.ext.do"])
_env.filters["j"] = _j
_env.filters["when"] = _when
_env.filters["chat_link"] = chat_link


def render(template: str, **data: Any) -> dict[str, Any]:
    """Render `<template>.json.j2`; long text is shortened until the card fits Teams' size limit."""
    card: dict[str, Any] = json.loads(_env.get_template(f"{template}.json.j2").render(**data))
    while len(json.dumps(card, ensure_ascii=False).encode()) > MAX_CARD_BYTES:
        if not _shorten_longest(card):
            break
    return card


def _shorten_longest(card: dict[str, Any]) -> bool:
    texts: list[tuple[dict[str, Any], str]] = []
    _collect(card, texts)
    if not texts:
        return False
    holder, key = max(texts, key=lambda t: len(t[0][t[1]]))
    text = holder[key]
    if len(text) < 200:
        return False
    base = text.removesuffix(_TRUNCATED)
    holder[key] = base[: len(base) // 2] + _TRUNCATED
    return True


def _collect(node: Any, out: list[tuple[dict[str, Any], str]]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("text", "value") and isinstance(value, str):
                out.append((node, key))
            else:
                _collect(value, out)
    elif isinstance(node, list):
        for item in node:
            _collect(item, out)
