"""Validates Adaptive Cards against the real v1.5 schema in ../shared/schemas/ (a copy ships in tests/schemas/)."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

_HERE = Path(__file__).resolve().parent
_CANDIDATES = (_HERE.parent.parent / "shared" / "schemas" / "adaptive-card.v1.5.0.json",
               _HERE / "schemas" / "adaptive-card.v1.5.0.json")


@cache
def _validator() -> Any:
    path = next(p for p in _CANDIDATES if p.exists())
    schema = json.loads(path.read_text(encoding="utf-8"))
    return jsonschema.validators.validator_for(schema)(schema)


def problems(card: dict[str, Any]) -> list[str]:
    out = []
    for error in _validator().iter_errors(card):
        best = jsonschema.exceptions.best_match(error.context or [error])
        out.append(f"{'/'.join(map(str, best.absolute_path))}: {best.message[:200]}")
    return out


def assert_valid_card(card: dict[str, Any]) -> None:
    found = problems(card)
    assert not found, "invalid Adaptive Card:\n" + "\n".join(found)


def card_texts(card: Any) -> list[str]:
    """Every TextRun and TextBlock text in a card, in document order."""
    out: list[str] = []
    if isinstance(card, dict):
        if card.get("type") in ("TextRun", "TextBlock") and isinstance(card.get("text"), str):
            out.append(card["text"])
        for value in card.values():
            out += card_texts(value)
    elif isinstance(card, list):
        for value in card:
            out += card_texts(value)
    return out
