"""Builders for Teams-shaped activities (as in ../shared/samples/) and a small client for /api/messages."""
from __future__ import annotations

import itertools
from typing import Any

import aiohttp

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
BOT_ID = "28:00000000-0000-0000-0000-0000000000b0"
BOT_NAME = "Connected Chats"
GROUP = "19:3bd8a2b0c7e44ac1a5f7a3b1e0c6d2a4@thread.v2"
ALEX = "00000000-0000-0000-0000-0000000000020"      # CSR, owns CAS-01001 and CAS-01234
MEGAN = "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"      # CSR Manager, tier1 team
ADELE = "00000000-0000-0000-0000-0000000000022"     # Salesperson: read-only on cases
ISAIAH = "00000000-0000-0000-0000-0000000000023"    # Field Technician: write, no privilege
PATTI = "00000000-0000-0000-0000-0000000000024"     # System Administrator
LYNNE = "00000000-0000-0000-0000-0000000000025"     # Omnichannel agent
_ids = itertools.count(1)


def activity(text: str = "", user: str = ALEX, conv: str = GROUP, conv_type: str = "groupChat",
             service_url: str = "", mention: bool = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": "message", "id": f"msg-{next(_ids)}", "channelId": "msteams", "serviceUrl": service_url,
        "timestamp": "2026-11-29T06:00:00.000Z", "locale": "en-US",
        "from": {"id": f"29:{user}", "name": "Some User", "aadObjectId": user},
        "recipient": {"id": BOT_ID, "name": BOT_NAME},
        "conversation": {"conversationType": conv_type, "isGroup": conv_type != "personal",
                         "tenantId": TENANT, "id": conv},
        "channelData": {"tenant": {"id": TENANT}}, "textFormat": "plain",
        "text": f"<at>{BOT_NAME}</at> {text}" if mention and conv_type != "personal" else text,
    }
    if mention and conv_type != "personal":
        body["entities"] = [{"type": "mention", "text": f"<at>{BOT_NAME}</at>",
                             "mentioned": {"id": BOT_ID, "name": BOT_NAME}}]
    if conv_type == "channel":
        body["channelData"].update(channel={"id": conv}, team={"id": conv})
    body.update(extra)
    return body


def invoke(verb: str, data: dict[str, Any], user: str = ALEX, conv: str = GROUP, service_url: str = "",
           conv_type: str = "groupChat") -> dict[str, Any]:
    body = activity("", user=user, conv=conv, service_url=service_url, conv_type=conv_type, mention=False)
    body.update(type="invoke", name="adaptiveCard/action", text=None,
                value={"action": {"type": "Action.Execute", "verb": verb, "data": data}, "trigger": "manual"})
    return body


class Bot:
    """Talks to the running app over HTTP like Teams does."""

    def __init__(self, url: str, connector_url: str, session: aiohttp.ClientSession) -> None:
        self.url, self.connector_url, self.session = url, connector_url, session

    async def post(self, body: dict[str, Any] | bytes | str, headers: dict[str, str] | None = None
                   ) -> tuple[int, Any]:
        if isinstance(body, dict):
            body.setdefault("serviceUrl", self.connector_url)
            if not body["serviceUrl"]:
                body["serviceUrl"] = self.connector_url
            kwargs: dict[str, Any] = {"json": body}
        else:
            kwargs = {"data": body}
        async with self.session.post(self.url + "/api/messages", headers=headers or {}, **kwargs) as resp:
            text = await resp.text()
            try:
                import json
                return resp.status, json.loads(text) if text else None
            except ValueError:
                return resp.status, text

    async def say(self, text: str, **kw: Any) -> tuple[int, Any]:
        return await self.post(activity(text, service_url=self.connector_url, **kw))

    async def press(self, verb: str, data: dict[str, Any], **kw: Any) -> tuple[int, Any]:
        return await self.post(invoke(verb, data, service_url=self.connector_url, **kw))
