"""The Microsoft Graph gateway: chats, members, app installation, licenses and presence through msgraph-sdk.

This is the only module that imports msgraph-sdk (and its kiota runtime). Importing it costs a few hundred
milliseconds and the first calls pay more for lazy imports; `start()` pays all of that at start-up.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import AzureError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.authentication import AnonymousAuthenticationProvider, AuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.request_information import RequestInformation
from kiota_abstractions.serialization import ParsableFactory
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from kiota_serialization_json.json_parse_node_factory import JsonParseNodeFactory
from msgraph import GraphServiceClient
from msgraph.generated.app_catalogs.teams_apps.teams_apps_request_builder import TeamsAppsRequestBuilder
from msgraph.generated.communications.get_presences_by_user_id.get_presences_by_user_id_post_request_body import (
    GetPresencesByUserIdPostRequestBody,
)
from msgraph.generated.models.aad_user_conversation_member import AadUserConversationMember
from msgraph.generated.models.chat import Chat
from msgraph.generated.models.chat_type import ChatType
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.teams_app_installation import TeamsAppInstallation
from msgraph.generated.models.teams_app_permission_set import TeamsAppPermissionSet
from msgraph.generated.models.teams_app_resource_specific_permission import TeamsAppResourceSpecificPermission
from msgraph.generated.models.teams_app_resource_specific_permission_type import (
    TeamsAppResourceSpecificPermissionType,
)
from msgraph.generated.users.users_request_builder import UsersRequestBuilder
from msgraph.graph_request_adapter import GraphRequestAdapter
from msgraph.graph_request_adapter import options as msgraph_options
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler

import telemetry
from auth.azure_credential import NOT_CONFIGURED
from domain.ports import GatewayError
from graph import policy
from graph.policy import GraphError
from graph.throttle import BudgetRetryHandler

log = logging.getLogger(__name__)
ERRORS: dict[str, type[ParsableFactory]] = {"XXX": ODataError}  # Graph's error body, as the SDK maps it
CONCURRENCY = 4  # parallel requests of one batched call (licenses, presence): fast, without self-throttling


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
        if not 1 <= attempts <= RetryHandlerOption.MAX_MAX_RETRIES + 1:
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
        self._http: httpx.AsyncClient | None = None
        self._credential: Any = credential if auth == "azure" else None
        self.configured = auth == "none" or credential is not None
        self._client: GraphServiceClient | None = None
        self._token_task: asyncio.Task[None] | None = None
        self.startup_seconds = 0.0

    # -- lifecycle ----------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Build the client once and warm the SDK's lazy imports, so no agent's command pays for them."""
        if self._client is not None:
            return
        if not self.configured:
            log.info("Microsoft Graph is not configured (no AZURE_* settings): Graph-backed commands will say so")
            return
        began = time.perf_counter()
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=httpx.Timeout(30.0, connect=10.0),
                                       http2=True)
        retry = BudgetRetryHandler(self.attempts)
        middleware = [retry if isinstance(m, RetryHandler) else m
                      for m in KiotaClientFactory.get_default_middleware(msgraph_options)]
        middleware.append(GraphTelemetryHandler(options=msgraph_options.get("GraphTelemetryHandlerOption")))
        GraphClientFactory.create_with_custom_middleware(middleware, client=self._http)
        adapter = GraphRequestAdapter(self._auth_provider(), client=self._http)
        adapter.base_url = self.base_url  # httpx adds a trailing slash to its own base_url
        self._client = GraphServiceClient(request_adapter=adapter)
        self._warm_up(self._client)
        # The first token (credential probing, a round trip to Entra ID) is fetched in the background: with no
        # credentials configured the probing can take seconds, and the service must be ready within two.
        self._token_task = asyncio.create_task(self._first_token())
        self.startup_seconds = time.perf_counter() - began
        log.info("Graph gateway ready for %s (auth %s) in %.2f s", self.base_url, self.auth, self.startup_seconds)

    async def close(self) -> None:
        if self._token_task is not None:
            self._token_task.cancel()
            self._token_task = None
        if self._http is not None:
            await self._http.aclose()
        self._http = self._client = None  # the credential belongs to whoever made it (app.py closes it)

    def _auth_provider(self) -> AuthenticationProvider:
        if self.auth == "none":
            return AnonymousAuthenticationProvider()  # local emulators and tests: no Authorization header
        host = urlsplit(self.base_url).hostname or ""
        return AzureIdentityAuthenticationProvider(self._credential, scopes=[policy.token_scope(self.base_url)],
                                                   allowed_hosts=[host])

    async def _first_token(self) -> None:
        """Get the first token now (credential probing and a round trip to Entra ID), not on a user's command.
        A failure only warns: Graph calls will try again and report their own errors."""
        if self._credential is None:
            return
        try:
            await asyncio.wait_for(self._credential.get_token(policy.token_scope(self.base_url)), 10)
        except Exception as e:  # any credential problem: start anyway, say why
            log.warning("Graph: no token at start-up (%s: %s); check the AZURE_* settings", type(e).__name__, e)

    @staticmethod
    def _warm_up(client: GraphServiceClient) -> None:
        """Serialize each request body and parse each typed response once, offline: this runs the SDK's lazy
        imports (request builders, ~1000 models, serializers) that otherwise land on the first real call."""
        member = AadUserConversationMember(roles=["owner"])
        client.chats.to_post_request_information(Chat(chat_type=ChatType.Group, members=[member]))
        chat = client.chats.by_chat_id("warm-up")
        chat.members.to_post_request_information(member)
        chat.installed_apps.to_post_request_information(TeamsAppInstallation())
        client.communications.get_presences_by_user_id.to_post_request_information(
            GetPresencesByUserIdPostRequestBody(ids=["warm-up"]))
        client.users.to_get_request_information()
        client.app_catalogs.teams_apps.to_get_request_information()
        factory = JsonParseNodeFactory()
        for shape in (Chat, ODataError):
            factory.get_root_parse_node("application/json", b'{"id": "warm-up"}').get_object_value(shape)

    @property
    def _c(self) -> GraphServiceClient:
        assert self._client is not None, "start() first"
        return self._client

    @contextlib.asynccontextmanager
    async def _call(self, action: str, permission: str, maybe_done: bool = False) -> AsyncIterator[None]:
        """Run Graph calls within the budget and turn every failure into a GraphError a user can read."""
        if not self.configured:
            raise GraphError(NOT_CONFIGURED)
        if self._client is None:
            await self.start()
        with contextlib.ExitStack() as stack:
            stack.enter_context(telemetry.span("graph.call", {"cc.graph.permission": permission}))
            if policy.remaining() is None:
                stack.enter_context(policy.budget(self.budget))
            left = max(0.0, policy.remaining() or 0.0)
            try:
                async with asyncio.timeout(left):
                    yield
            except GatewayError:
                raise
            except TimeoutError:
                log.warning("Graph: %s timed out after %.1f s", action, left)
                raise policy.timeout_error(action, left, maybe_done) from None
            except APIError as e:
                log.warning("Graph: %s failed: %s", action, e)
                raise policy.api_error(action, permission, e.response_status_code, e.response_headers) from None
            except httpx.HTTPError as e:
                log.warning("Graph: %s failed: %s: %s", action, type(e).__name__, e)
                raise policy.unreachable_error(action) from None
            except AzureError as e:  # no token: wrong AZURE_* settings, or Entra ID unreachable
                log.warning("Graph: %s: sign-in failed: %s", action, e)
                raise GraphError(f"This app could not sign in to Microsoft Graph to {action}. "
                                 "An administrator should check its Azure settings.") from None
            except Exception:  # an SDK surprise still gets a readable answer; the log keeps the details
                log.exception("Graph: %s failed unexpectedly", action)
                raise GraphError(f"Microsoft Graph failed unexpectedly when asked to {action}. Try again later.") \
                    from None

    async def _json(self, info: RequestInformation) -> dict[str, Any]:
        """Send a request the SDK built (auth, retries and error mapping included) and read the JSON ourselves.
        msgraph-sdk's model parsing costs about 4 ms of CPU per entity, on the event loop (every parse re-runs
        the ~1000 imports of Entity's deserializers): 3 s for one 650-user presence batch."""
        # kiota types the result as an unbound TypeVar; with "bytes" it is the raw body
        send: Callable[..., Awaitable[bytes | None]] = self._c.request_adapter.send_primitive_async
        raw = await send(info, "bytes", ERRORS)
        data: Any = json.loads(raw) if raw else {}
        return data if isinstance(data, dict) else {}

    # -- ChatGateway ------------------------------------------------------------------------------------------

    async def create_chat(self, topic: str | None, member_aad_ids: Sequence[str]) -> str:
        """A group chat with every member (the requester included) as owner; returns its id."""
        ids = policy.unique(member_aad_ids)
        if len(ids) < 2:
            raise GraphError("A group chat needs at least two people.")
        if len(ids) > policy.MAX_CHAT_MEMBERS:
            raise GraphError(f"A Teams group chat holds at most {policy.MAX_CHAT_MEMBERS} people; "
                             f"{len(ids)} were chosen.")
        binds = [policy.user_bind(self._bind, i) for i in ids]
        members = [AadUserConversationMember(roles=["owner"], additional_data={"user@odata.bind": b}) for b in binds]
        body = Chat(chat_type=ChatType.Group, topic=policy.clean_topic(topic), members=list(members))
        async with self._call("create the chat", "Chat.Create", maybe_done=True):
            chat = await self._c.chats.post(body)
        if chat is None or not chat.id:
            raise GraphError("Microsoft Graph did not return the new chat. Try again in a moment.")
        return chat.id

    async def install_app(self, chat_id: str) -> None:
        """Add this app to the chat (the catalog lookup shares the budget); already installed counts as done."""
        try:
            async with self._call("add this app to the chat", "TeamsAppInstallation.ReadWriteAndConsentSelfForChat.All",
                                  maybe_done=True):
                catalog_id = await self._app_catalog_id()
                body = TeamsAppInstallation(
                    additional_data={"teamsApp@odata.bind": f"{self._bind}/appCatalogs/teamsApps/{catalog_id}"})
                if self._rsc:
                    body.consented_permission_set = TeamsAppPermissionSet(resource_specific_permissions=[
                        TeamsAppResourceSpecificPermission(
                            permission_value=name, permission_type=TeamsAppResourceSpecificPermissionType(kind))
                        for name, kind in self._rsc])
                await self._c.chats.by_chat_id(chat_id).installed_apps.post(body)
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
                query = TeamsAppsRequestBuilder.TeamsAppsRequestBuilderGetQueryParameters(
                    filter=f"externalId eq '{self._manifest_id}'")
                info = self._c.app_catalogs.teams_apps.to_get_request_information(
                    RequestConfiguration(query_parameters=query))
                async with self._call("find this app in the Teams app catalog", "AppCatalog.Read.All"):
                    found = await self._json(info)
                ids = [a["id"] for a in found.get("value") or [] if isinstance(a, dict) and a.get("id")]
                if not ids:
                    raise GraphError("This app is not in your organization's Teams app catalog yet: an administrator "
                                     "must upload it (or set TEAMS_APP_CATALOG_ID).")
                self._catalog_id = str(ids[0])
        return self._catalog_id

    async def is_member(self, chat_id: str, aad_object_id: str) -> bool:
        wanted = aad_object_id.lower()
        async with self._call("read the chat's members", "ChatMember.Read.All"):
            members = self._c.chats.by_chat_id(chat_id).members
            page = await self._json(members.to_get_request_information())
            while True:
                if any(str(m.get("userId") or "").lower() == wanted for m in page.get("value") or []
                       if isinstance(m, dict)):
                    return True
                link = page.get("@odata.nextLink")
                if not link:
                    return False
                page = await self._json(members.with_url(policy.rebase(link, self.base_url))
                                        .to_get_request_information())

    async def add_member(self, chat_id: str, aad_object_id: str) -> None:
        """Add the user with the whole chat history visible."""
        member = AadUserConversationMember(roles=["owner"], additional_data={
            "user@odata.bind": policy.user_bind(self._bind, aad_object_id),
            "visibleHistoryStartDateTime": policy.FULL_HISTORY})
        async with self._call("add you to the chat", "ChatMember.ReadWrite.All", maybe_done=True):
            await self._c.chats.by_chat_id(chat_id).members.post(member)

    async def chat_title(self, chat_id: str) -> str:
        async with self._call("read the chat", "Chat.ReadBasic.WhereInstalled"):
            chat = await self._c.chats.by_chat_id(chat_id).get()
        return (chat.topic if chat else None) or ""

    async def licensed(self, aad_object_ids: Sequence[str]) -> set[str]:
        """The users among these with an active Teams plan (see policy.has_teams). Unknown ids are unlicensed."""
        ids = [i for i in policy.unique(aad_object_ids) if policy.safe_id(i)]
        by_lower = {i.lower(): i for i in ids}

        async def chunk(part: Sequence[str]) -> set[str]:
            query = UsersRequestBuilder.UsersRequestBuilderGetQueryParameters(
                filter=policy.id_filter(part), select=["id", "assignedPlans"])
            found = await self._json(self._c.users.to_get_request_information(
                RequestConfiguration(query_parameters=query)))
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
            body = GetPresencesByUserIdPostRequestBody(ids=list(part))
            found = await self._json(self._c.communications.get_presences_by_user_id.to_post_request_information(body))
            return {by_lower[str(p.get("id")).lower()]: str(p.get("availability") or "PresenceUnknown")
                    for p in found.get("value") or [] if isinstance(p, dict) and str(p.get("id")).lower() in by_lower}

        if not ids:
            return {}
        async with self._call("read presence", "Presence.Read.All"):
            jobs = [batch(p) for p in policy.chunks(ids, policy.PRESENCE_BATCH)]
            parts = await policy.gather_limited(CONCURRENCY, jobs)
        return {k: v for part in parts for k, v in part.items()}
