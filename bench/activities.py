"""Teams-shaped activities for the load generators (teams.lua builds the same shape for wrk)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

BOT_ID = "28:00000000-0000-0000-0000-0000000000b0"
BOT_NAME = "Connected Chats"
# Agents Playground's mock user Alex Wilber (13 digits in the last group on purpose) and the demo tenant.
DEMO_USER_AAD = "00000000-0000-0000-0000-0000000000020"
DEMO_TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
DEFAULT_TEXT = f"<at>{BOT_NAME}</at> help"


@dataclass(frozen=True)
class Shape:
    """What every generated activity has in common; `seq` varies ids and conversations."""

    service_url: str
    conversations: int = 1000
    personal_share: float = 0.25
    text: str = DEFAULT_TEXT
    invoke_value: Any = None  # set = send adaptiveCard/action invokes with this value instead of messages
    run_id: str = "b"


def personal_every(shape: Shape) -> int:
    """Every Nth conversation is personal (0 = none): an integer rule keeps the mix identical to teams.lua's."""
    return round(1 / shape.personal_share) if shape.personal_share > 0 else 0


def _conversation(shape: Shape, seq: int) -> dict[str, Any]:
    n = seq % max(1, shape.conversations)
    every = personal_every(shape)
    if every and n % every == 0:
        return {"conversationType": "personal", "tenantId": DEMO_TENANT, "id": f"a:bench-personal-{n}"}
    return {
        "conversationType": "groupChat",
        "isGroup": True,
        "tenantId": DEMO_TENANT,
        "id": f"19:bench-{n}@thread.v2",
    }


def activity(shape: Shape, seq: int) -> dict[str, Any]:
    """One activity with a unique id; spread over `shape.conversations` conversation ids."""
    conv = _conversation(shape, seq)
    act: dict[str, Any] = {
        "channelId": "msteams",
        "serviceUrl": shape.service_url,
        "timestamp": "2026-11-29T06:00:00.000Z",
        "locale": "en-US",
        "id": f"{shape.run_id}-{seq}",
        "from": {"id": "29:bench-user", "name": "Alex Wilber", "aadObjectId": DEMO_USER_AAD},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": conv,
        "channelData": {"tenant": {"id": DEMO_TENANT}},
    }
    if shape.invoke_value is not None:
        act.update(type="invoke", name="adaptiveCard/action", value=shape.invoke_value)
        act["replyToId"] = f"{shape.run_id}-card"
        return act
    act.update(type="message", textFormat="plain", text=shape.text)
    if conv["conversationType"] != "personal":
        mention = {"type": "mention", "text": f"<at>{BOT_NAME}</at>", "mentioned": {"id": BOT_ID, "name": BOT_NAME}}
        act["entities"] = [mention]
    return act


def body(shape: Shape, seq: int) -> bytes:
    return json.dumps(activity(shape, seq), separators=(",", ":")).encode()
