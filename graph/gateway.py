"""The Microsoft Graph gateway: chats, members, app installation, licenses and presence.

Graph is called over plain HTTP (graph/transport.py: one aiohttp session, JSON bodies in Graph's documented
shapes, azure-identity tokens, budgeted retries), not through msgraph-sdk: the nine endpoints used need none of
its ~1000 model classes, which cost 55 MB resident and 1.1-1.4 s on first use (or at start)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any
from urllib.parse import quote

import aiohttp

import telemetry
from auth.azure_credential import NOT_CONFIGURED
from domain.ports import GatewayError
from graph import policy
from graph.policy import GraphError
from graph.transport import GraphResponseError, Transport

log = logging.getLogger(__name__)
CONCURRENCY = 4  # parallel requests of one batched call (licenses, presence): fast, without self-throttling
MEMBER = "#microsoft.graph.aadUserConversationMember"


class GraphGateway:
    """domain.ports.ChatGateway over Microsoft Graph (application permissions)."""

    def __init__(self, base_url: str, auth: str, app_catalog_id: str | None, manifest_app_id: str | None, *,
                 budget: float = 4.0, attempts: int = 3,
                 rsc_permissions: Sequence[Mapping[str, str]] = (), credential: Any = None) -> None:
        """`budget`: seconds one call may take in all, retries included (Teams wants an invoke answered in about
        5 s). `attempts`: tries per request on 429/503/504. `rsc_permissions`: the manifest's
        authorization.permissions.resourceSpecific entries ({"name", "type"}), consented when installing.
        `credential`: the azure-identity credential for auth "azure"; without one Graph is not configured, the
        gateway makes no request and every call answers NOT_CONFIGURED."""
        if auth not in ("azure", "none"):
            raise ValueError(f"GRAPH_AUTH must be 'azure' or 'none', not {auth!r}")
        if not 1 <= attempts <= 11:
            raise ValueError("attempts must be between 1 and 11")
        self.base_url = policy.normalize_base_url(base_url)
        if auth == "azure" and not policy.token_safe(self.base_url):
            raise ValueError("GRAPH_AUTH=azure sends a token, so GRAPH_BASE_URL must be https (or localhost)")
        self.auth = auth
        self.budget = budget
        self.attempts = attempts
        self._catalog_id = app_catalog_id or None
        self._manifest_id = manifest_app_id or None
        self._rsc = [(p["name"], p.get("type", "Application").lower()) for p in rsc_permissions]
        self._bind = policy.bind_root(self.base_url)
        self._catalog_lock = asyncio.Lock()
        self._http: Transport | None = None
        self._credential: Any = credential if auth == "azure" else None
        self.configured = auth == "none" or credential is not None
        self._token_task: asyncio.Task[None] | None = None
        self.startup_seconds = 0.0

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the HTTP session and, with GRAPH_AUTH=azure, fetch the first token in the background."""
        if self._http is not None:
            return
        if not self.configured:
            log.info("Microsoft Graph is not configured (no AZURE_* settings): Graph-backed commands will say so")
            return
        began = time.perf_counter()
        self._http = Transport(self.base_url, self._credential, self.attempts)
        await self._http.open()
        # The first token (credential probing, a round trip to Entra ID) is fetched in the background: with no
        # credentials configured the probing can take seconds, and the service must be ready within two.
        if self._http.credential is not None:
            self._token_task = asyncio.create_task(self._first_token())
        self.startup_seconds = time.perf_counter() - began
        log.info("Graph gateway ready for %s (auth %s) in %.2f s", self.base_url, self.auth, self.startup_seconds)

    async def close(self) -> None:
        if self._token_task is not None:
            self._token_task.cancel()
            self._token_task = None
        if self._http is not None:
            await self._http.close()
        self._http = None  # the credential belongs to whoever made it (app.py closes it)

    async def _first_token(self) -> None:
        """Get the first token now (credential probing and a round trip to Entra ID), not on a user's command.
        A failure only warns: Graph calls will try again and report their own errors."""
        try:
            assert self._http is not None
            await asyncio.wait_for(self._http.token(), 10)
        except Exception as e:  # any credential problem: start anyway, say why
            log.warning("Graph: no token at start-up (%s: %s); check the AZURE_* settings", type(e).__name__, e)

    @contextlib.asynccontextmanager
    async def _call(self, action: str, permission: str, maybe_done: bool = False) -> AsyncIterator[Transport]:
        """Run Graph calls within the budget and turn every failure into a GraphError a user can read."""
        if not self.configured:
            raise GraphError(NOT_CONFIGURED)
        if self._http is None:
            await self.start()
        assert self._http is not None
        from azure.core.exceptions import AzureError  # azure-core is light; the credential came with it

        with contextlib.ExitStack() as stack:
            stack.enter_context(telemetry.span("graph.call", {"cc.graph.permission": permission}))
            if policy.remaining() is None:
                stack.enter_context(policy.budget(self.budget))
            left = max(0.0, policy.remaining() or 0.0)
            try:
                async with asyncio.timeout(left):
                    yield self._http
            except GatewayError:
                raise
            except TimeoutError:
                log.warning("Graph: %s timed out after %.1f s", action, left)
                raise policy.timeout_error(action, left, maybe_done) from None
            except GraphResponseError as e:
                log.warning("Graph: %s failed: HTTP %s", action, e.status)
                raise policy.api_error(action, permission, e.status, e.headers) from None
            except aiohttp.ClientError as e:
                log.warning("Graph: %s failed: %s: %s", action, type(e).__name__, e)
                raise policy.unreachable_error(action) from None
            except AzureError as e:  # no token: wrong AZURE_* settings, or Entra ID unreachable
                log.warning("Graph: %s: sign-in failed: %s", action, e)
                raise GraphError(f"This app could not sign in to Microsoft Graph to {action}. "
                                 "An administrator should check its Azure settings.") from None
            except Exception:  # a surprise still gets a readable answer; the log keeps the details
                log.exception("Graph: %s failed unexpectedly", action)
                raise GraphError(f"Microsoft Graph failed unexpectedly when asked to {action}. Try again later.") \
                    from None

    def _member(self, aad_object_id: str, **extra: Any) -> dict[str, Any]:
        return {"@odata.type": MEMBER, "roles": ["owner"],
                "user@odata.bind": policy.user_bind(self._bind, aad_object_id), **extra}

# -- ChatGateway ------------------------------------------------------------------------------------------

    async def create_chat(self, topic: str | None, member_aad_ids: Sequence[str]) -> str:
        """A group chat with every member (the requester included) as owner; returns its id."""
        ids = policy.unique(member_aad_ids)
        if len(ids) < 2:
            raise GraphError("A group chat needs at least two people.")
        if len(ids) > policy.MAX_CHAT_MEMBERS:
            raise GraphError(f"A Teams group chat holds at most {policy.MAX_CHAT_MEMBERS} people; "
                             f"{len(ids)} were chosen.")
        body: dict[str, Any] = {"chatType": "group", "members": [self._member(i) for i in ids]}
        if (clean := policy.clean_topic(topic)) is not None:
            body["topic"] = clean
        async with self._call("create the chat", "Chat.Create", maybe_done=True) as http:
            chat = await http.request("POST", "/chats", body=body)
        if not isinstance(chat.get("id"), str) or not chat["id"]:
            raise GraphError("Microsoft Graph did not return the new chat. Try again in a moment.")
        return str(chat["id"])

    async def install_app(self, chat_id: str) -> None:
        """Add this app to the chat (the catalog lookup shares the budget); already installed counts as done."""
        try:
            async with self._call("add this app to the chat", "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
                                  maybe_done=True) as http:
                catalog_id = await self._app_catalog_id()
                body: dict[str, Any] = {"teamsApp@odata.bind": f"{self._bind}/appCatalogs/teamsApps/{catalog_id}"}
                if self._rsc:
                    body["consentedPermissionSet"] = {"resourceSpecificPermissions": [
                        {"permissionValue": name, "permissionType": kind} for name, kind in self._rsc]}
                await http.request("POST", f"/chats/{_seg(chat_id)}/installedApps", body=body)
        except GraphError as e:
            if e.status != 409:  # 409 Conflict: already installed
                raise

    async def _app_catalog_id(self) -> str:
        """TEAMS_APP_CATALOG_ID, or the catalog entry whose externalId is the manifest id (looked up once)."""
        if self._catalog_id:
            return self._catalog_id
        if not self._manifest_id or not policy.safe_id(self._manifest_id):
            raise GraphError("This app's id in the Teams app catalog is not configured (TEAMS_APP_CATALOG_ID).")
        async with self._catalog_lock:
            if not self._catalog_id:
                async with self._call("find this app in the Teams app catalog", "AppCatalog.Read.All") as http:
                    found = await http.request("GET", "/appCatalogs/teamsApps",
                                               params={"$filter": f"externalId eq '{self._manifest_id}'"})
                ids = [a["id"] for a in found.get("value") or [] if isinstance(a, dict) and a.get("id")]
                if not ids:
                    raise GraphError("This app is not in your organization's Teams app catalog yet: an administrator "
                                     "must upload it (or set TEAMS_APP_CATALOG_ID).")
                self._catalog_id = str(ids[0])
        return self._catalog_id

    async def is_member(self, chat_id: str, aad_object_id: str) -> bool:
        wanted = aad_object_id.lower()
        async with self._call("read the chat's members", "ChatMember.Read.All") as http:
            page = await http.request("GET", f"/chats/{_seg(chat_id)}/members")
            while True:
                if any(str(m.get("userId") or "").lower() == wanted for m in page.get("value") or []
                       if isinstance(m, dict)):
                    return True
                link = page.get("@odata.nextLink")
                if not link:
                    return False
                page = await http.request("GET", policy.rebase(str(link), self.base_url))

    async def user_chats(self, aad_object_id: str, limit: int = 50) -> list[str]:
        """The person's group chats, most recent message first (ids only: neither topics nor message previews)."""
        if not policy.safe_id(aad_object_id):
            raise GraphError("That is not a Microsoft Entra object id.")
        params = {"$filter": "chatType eq 'group'", "$orderby": "lastMessagePreview/createdDateTime desc",
                  "$top": str(max(1, min(limit, 50)))}
        found: list[str] = []
        async with self._call("list the person's chats", "Chat.ReadBasic.All") as http:
            page = await http.request("GET", f"/users/{_seg(aad_object_id)}/chats", params=params)
            while True:
                found += [str(c["id"]) for c in page.get("value") or []
                          if isinstance(c, dict) and c.get("id") and c.get("chatType", "group") == "group"]
                link = page.get("@odata.nextLink")
                if len(found) >= limit or not link:
                    return found[:limit]
                page = await http.request("GET", policy.rebase(str(link), self.base_url))

    async def add_member(self, chat_id: str, aad_object_id: str) -> None:
        """Add the user with the whole chat history visible."""
        member = self._member(aad_object_id, visibleHistoryStartDateTime=policy.FULL_HISTORY)
        async with self._call("add you to the chat", "ChatMember.ReadWrite.All", maybe_done=True) as http:
            await http.request("POST", f"/chats/{_seg(chat_id)}/members", body=member)

    async def chat_title(self, chat_id: str) -> str:
        async with self._call("read the chat", "Chat.ReadBasic.WhereInstalled") as http:
            chat = await http.request("GET", f"/chats/{_seg(chat_id)}")
        return str(chat.get("topic") or "")

    async def licensed(self, aad_object_ids: Sequence[str]) -> set[str]:
        """The users among these with an active Teams plan (see policy.has_teams). Unknown ids are unlicensed."""
        ids = [i for i in policy.unique(aad_object_ids) if policy.safe_id(i)]
        by_lower = {i.lower(): i for i in ids}

        async def chunk(part: Sequence[str]) -> set[str]:
            assert self._http is not None
            found = await self._http.request("GET", "/users", params={"$filter": policy.id_filter(part),
                                                                      "$select": "id,assignedPlans"})
            return {by_lower[str(u.get("id")).lower()] for u in found.get("value") or []
                    if isinstance(u, dict) and str(u.get("id")).lower() in by_lower
                    and policy.has_teams((p.get("service"), p.get("capabilityStatus"))
                                         for p in u.get("assignedPlans") or [] if isinstance(p, dict))}

        if not ids:
            return set()
        async with self._call("check who has a Teams license", "User.Read.All"):
            jobs = [chunk(p) for p in policy.chunks(ids, policy.FILTER_IN_LIMIT)]
            parts = await policy.gather_limited(CONCURRENCY, jobs)
        return set().union(*parts)

    async def presence(self, aad_object_ids: Sequence[str]) -> dict[str, str]:
        """Availability (Available, Busy, Away, Offline, PresenceUnknown...) per user id."""
        ids = [i for i in policy.unique(aad_object_ids) if policy.safe_id(i)]
        by_lower = {i.lower(): i for i in ids}

        async def batch(part: Sequence[str]) -> dict[str, str]:
            assert self._http is not None
            found = await self._http.request("POST", "/communications/getPresencesByUserId", body={"ids": list(part)})
            return {by_lower[str(p.get("id")).lower()]: str(p.get("availability") or "PresenceUnknown")
                    for p in found.get("value") or [] if isinstance(p, dict) and str(p.get("id")).lower() in by_lower}

        if not ids:
            return {}
        async with self._call("read presence", "Presence.Read.All"):
            jobs = [batch(p) for p in policy.chunks(ids, policy.PRESENCE_BATCH)]
            parts = await policy.gather_limited(CONCURRENCY, jobs)
        return {k: v for part in parts for k, v in part.items()}


def _seg(value: str) -> str:
    """One URL path segment (chat ids contain ':' and '@', which Graph accepts as they are)."""
    return quote(value, safe=":@")
