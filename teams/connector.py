"""Bot Connector REST client on one shared aiohttp session: replies and proactive posts, no per-turn setup.
`envelope` is the one builder of an outgoing message activity; bots/, tabs/ and notify/ all post through here."""
from __future__ import annotations

from typing import Any, Protocol
from urllib.parse import quote

import aiohttp
from yarl import URL

import telemetry
from domain.model import ConversationRef
from domain.ports import DeliveryError
from teams import wirejson

CARD = "application/vnd.microsoft.card.adaptive"
_JSON = {"Content-Type": "application/json"}


class TokenSource(Protocol):
    async def token(self) -> str: ...
    def forget(self) -> None: ...


def envelope(conversation_id: str, *, card: dict[str, Any] | None = None, text: str | None = None,
             tenant_id: str = "", bot_id: str = "", reply_to: str = "") -> dict[str, Any]:
    """The outgoing message activity: an Adaptive Card attachment, or markdown text."""
    activity: dict[str, Any] = {"type": "message", "attachments": [{"contentType": CARD, "content": card}]} \
        if card is not None else {"type": "message", "text": text or "", "textFormat": "markdown"}
    activity["conversation"] = {"id": conversation_id, "tenantId": tenant_id} if tenant_id else {"id": conversation_id}
    if bot_id:
        activity["from"] = {"id": bot_id}
    if reply_to:
        activity["replyToId"] = reply_to
    return activity


class ConnectorClient:
    def __init__(self, session: aiohttp.ClientSession, tokens: TokenSource | None) -> None:
        self._session = session
        self._tokens = tokens
        self._bases: dict[str, URL] = {}

    async def send(self, service_url: str, conversation_id: str, activity: dict[str, Any],
                   reply_to: str | None = None) -> str:
        path = f"v3/conversations/{quote(conversation_id, safe='')}/activities"
        if reply_to:
            path += f"/{quote(reply_to, safe='')}"
        body = await self._call("POST", service_url, path, activity)
        return str(body.get("id", ""))

    async def member(self, service_url: str, conversation_id: str, member_id: str) -> dict[str, Any]:
        """A conversation member (Teams: id, name, aadObjectId, email, userPrincipalName); {} if unknown."""
        path = (f"v3/conversations/{quote(conversation_id, safe='')}/members/{quote(member_id, safe='')}")
        try:
            return await self._call("GET", service_url, path, None)
        except DeliveryError:
            return {}

    async def create_conversation(self, service_url: str, bot_id: str, tenant_id: str, aad_object_id: str) -> str:
        """A 1:1 conversation with a user, for a proactive personal message (POST /v3/conversations; Teams
        answers with the existing conversation's id when there is one)."""
        body = {"bot": {"id": bot_id}, "members": [{"id": aad_object_id}], "isGroup": False,
                "tenantId": tenant_id, "channelData": {"tenant": {"id": tenant_id}}}
        answer = await self._call("POST", service_url, "v3/conversations", body)
        if not answer.get("id"):
            raise DeliveryError(502, "Bot Connector created no conversation")
        return str(answer["id"])

    async def has_member(self, ref: ConversationRef, aad_object_id: str) -> bool:
        """Whether the person is in the conversation now (GET v3/conversations/{id}/members/{Entra object id}; Teams
        answers 404 MemberNotFoundInConversation for anyone else, 403 when the chat is closed to the bot: neither is
        taken as membership). DeliveryError when Teams can't say (throttled, unreachable)."""
        path = f"v3/conversations/{quote(ref.conversation_id, safe='')}/members/{quote(aad_object_id, safe='')}"
        try:
            await self._call("GET", ref.service_url, path, None)
        except DeliveryError as exc:
            if exc.status in (403, 404):
                return False
            raise
        return True

    async def member_names(self, service_url: str, conversation_id: str, limit: int = 250) -> list[str]:
        """The display names of the conversation's people, bots left out (v3 pagedmembers): an untitled chat's name."""
        names: list[str] = []
        token = ""
        while len(names) < limit:
            query = "pageSize=100" + (f"&continuationToken={quote(token, safe='')}" if token else "")
            page = await self._call("GET", service_url,
                                    f"v3/conversations/{quote(conversation_id, safe='')}/pagedmembers?{query}", None)
            names += [str(m.get("name") or "") for m in page.get("members") or []
                      if isinstance(m, dict) and m.get("aadObjectId")]
            token = str(page.get("continuationToken") or "")
            if not token:
                break
        return names[:limit]

    async def post(self, ref: ConversationRef, card: dict[str, Any]) -> None:
        """Messenger port: a proactive card into a stored conversation."""
        await self.send(ref.service_url, ref.conversation_id,
                        envelope(ref.conversation_id, card=card, tenant_id=ref.tenant_id))

    async def _call(self, method: str, service_url: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
        try:
            url = self._url(service_url, path)
        except ValueError:
            raise DeliveryError(400, "the serviceUrl is not a valid URL") from None
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {await self._tokens.token()}"} if self._tokens else {}
            # orjson: a card's JSON in a tenth of the standard library's time (profiled on `records`).
            data = None if body is None else wirejson.dumps(body)
            if data is not None:
                headers.update(_JSON)
            try:
                async with self._session.request(method, url, data=data, headers=headers) as resp:
                    if method == "POST":
                        telemetry.teams_post(_tenant(body), resp.status)
                    if resp.status == 401 and self._tokens and attempt == 1:
                        self._tokens.forget()  # a revoked or rotated token: fetch a fresh one once
                        continue
                    if resp.status >= 400:
                        raise DeliveryError(resp.status, f"Bot Connector answered {resp.status}",
                                            _retry_after(resp.headers.get("Retry-After")))
                    raw = await resp.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                raise DeliveryError(503, f"Bot Connector unreachable: {exc.__class__.__name__}") from None
            try:
                parsed = wirejson.loads(raw) if raw else {}
            except ValueError:
                parsed = {}
            return parsed if isinstance(parsed, dict) else {}
        raise DeliveryError(401, "Bot Connector refused the bot's token")

    def _url(self, service_url: str, path: str) -> URL:
        """The serviceUrl parsed once (a tenant has a handful), our own path appended already quoted: yarl's parse
        and re-quote of every full URL cost more than the rest of a reply's client-side work (profiled)."""
        base = self._bases.get(service_url)
        if base is None:
            if len(self._bases) >= 1024:
                self._bases.clear()
            base = URL(service_url)
            if not base.absolute:
                raise ValueError("not absolute")
            self._bases[service_url] = base
        path, _, query = path.partition("?")
        url = base.with_path(base.raw_path.rstrip("/") + "/" + path, encoded=True)
        return URL(f"{url}?{query}", encoded=True) if query else url


def _tenant(body: dict[str, Any] | None) -> str:
    conversation = (body or {}).get("conversation")
    return str(conversation.get("tenantId") or "") if isinstance(conversation, dict) else ""


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
