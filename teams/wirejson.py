"""JSON on Microsoft's wires (Bot Framework activities, Bot Connector, Graph): orjson for speed (profiled on the
`records` path), the standard library for what orjson refuses. JSON may escape a lone UTF-16 surrogate
("\\ud800"), which users can type and Teams passes on; orjson rejects such text both ways, json accepts it and
writes it back escaped, so hostile text is answered, never a 400 or a failed post."""
from __future__ import annotations

import json
from typing import Any

import orjson


def loads(raw: bytes | str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return json.loads(raw)  # raises ValueError (or UnicodeDecodeError) when it is not JSON at all


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:
        return json.dumps(value).encode()
