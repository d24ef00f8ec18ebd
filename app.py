"""Wires connected-chats together and runs it: `python app.py` (configuration from the environment, see README)."""
from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web

from auth import azure_credential
from auth.jwks import KeySet
from auth.outgoing import ClientCredentials, ManagedIdentityToken
from bots import chat_events, collab_commands, commands, extension, lifecycle_buttons, search_extension, set_command
from bots.adapter import TeamsAdapter
from bots.background import Background
from bots.router import Router
from cards.results import context_card
from config import Config, ConfigError, SourceKind
from domain.collab import CollabService
from domain.lifecycle import lifecycle_needs
from domain.lifecycle_service import LifecycleService
from domain.membership import Membership
from domain.model import ConversationRef
from domain.ports import RecordSource, SettingsStore
from domain.registrations import notification_needs
from domain.results import ContextNote
from domain.search import SearchService
from domain.service import ChatService
from domain.settings_watch import WatchedSettings
from domain.similar_contacts import SimilarContacts
from domain.similar_settings import similar_needs
from graph import GraphGateway
from manifest.render import rsc_permissions
from notify import pipeline
from records import SourceConfigError, open_source
from records.dataverse_registrations import start_sync
from records.directory_file import DirectoryError
from store.audit import SqlAuditLog
from store.chat_cache import CONNECTIONS_CHANNEL, listen_with
from store.chat_directory import SqlChatDirectory
from store.connections import SqlConnectionStore
from store.db import Database, open_database
from store.local_timeline import SqlLocalTimeline
from store.migrations import migrate
from store.outbox import SqlOutbox
from store.recent_records import SqlRecentRecords
from store.reindex import backfill
from store.settings_store import SETTINGS_TTL, SETTINGS_TTL_LISTENING, SqlSettingsStore
from store.similar import SqlSimilarCases
from store.wakeups import SETTINGS_CHANNEL, PgWakeups
from tabs import bind as bind_tabs
from tabs import install as install_tabs
from tabs.registrations_api import REGISTRATIONS
from teams.connector import ConnectorClient, TokenSource
from telemetry import endpoint as telemetry_endpoint
from telemetry import logs as telemetry_logs
from telemetry import setup as telemetry_setup
from telemetry import watch_outbox
from webhooks import dataverse
from webhooks.similar_intake import SimilarIntake

log = logging.getLogger("connected_chats")
CONFIG = web.AppKey("config", Config)
SESSION = web.AppKey("session", aiohttp.ClientSession)
DB = web.AppKey("db", Database)
SERVICE = web.AppKey("service", ChatService)
CONNECTOR = web.AppKey("connector", ConnectorClient)
ADAPTER = web.AppKey("adapter", TeamsAdapter)
ROUTER = web.AppKey("router", Router)
TELEMETRY = web.AppKey("telemetry", telemetry_setup.Handle)


def open_records(config: Config, credential: Any = None) -> RecordSource:
    try:
        return open_source(config.record_source, config.public_url, config.dataverse_auth,
                           config.dataverse_record_types, credential, config.dataverse_profiles_ttl)
    except (SourceConfigError, DirectoryError) as exc:
        raise SystemExit(f"connected-chats cannot start: {exc}") from None


def _bot_tokens(config: Config, session: aiohttp.ClientSession) -> TokenSource | None:
    if config.local_mode:
        return None
    scope = config.oauth_scope.rstrip("/") + "/.default"
    if config.app_type == "UserAssignedMSI":
        return ManagedIdentityToken(config.app_id, scope)
    return ClientCredentials(session, config.token_url, config.app_id, config.app_password, scope)


async def _resources(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=15),
                                    connector=aiohttp.TCPConnector(limit=200, ttl_dns_cache=300))
    db = await open_database(config.database_url)
    await migrate(db)
    # Graph and Dataverse get a credential only when one is configured: on defaults nothing leaves loopback.
    credential = azure_credential.build(config.cloud_credential, client_id=config.cloud_client_id,
                                        tenant_id=config.app_tenant_id, secret=config.app_password)
    records = open_records(config, credential)
    if keep := getattr(records, "keep_timeline_in", None):
        keep(SqlLocalTimeline(db))  # the local directory's timeline persists with the service's state
    # Checked in the background so a slow CRM never delays the port opening; problems are logged as warnings.
    checking = asyncio.create_task(_startup_check(records))
    # One instance: the notifier sees a change saved on the admin tab at once, and saves are watched; other
    # replicas' saves reach it by NOTIFY on PostgreSQL (so it re-reads only on a notification, or after a long
    # fallback TTL).
    stored = SqlSettingsStore(db, ttl=SETTINGS_TTL_LISTENING if db.dialect == "postgresql" else SETTINGS_TTL)
    settings = WatchedSettings(stored)
    # Dataverse only: keep its webhook steps matching the settings, at start and after every save (background).
    registrations = start_sync(records, settings, config.dataverse_endpoint_name,
                               (notification_needs, similar_needs, lifecycle_needs))
    if registrations is not None:
        settings.on_save(registrations.request)
        app[REGISTRATIONS] = registrations
    connector = ConnectorClient(session, _bot_tokens(config, session))
    graph = GraphGateway(config.graph_base_url, config.graph_auth, config.teams_app_catalog_id or None,
                         config.teams_app_id or None, rsc_permissions=rsc_permissions(), credential=credential)
    await graph.start()  # opens its HTTP session; with a credential the first token comes in the background
    # Without a token the real Graph refuses every read: ask it for chat topics and members only when it can answer.
    usable_graph = graph if config.graph_auth == "azure" or config.graph_base_url != Config.graph_base_url else None
    chats = SqlChatDirectory(db)
    membership = Membership(chats, connector, usable_graph)  # asked of Teams, cached briefly in this process only
    service = ChatService(records, SqlConnectionStore(db), settings, SqlAuditLog(db), chats, membership)

    async def announce(ref: ConversationRef, note: ContextNote) -> None:
        await connector.post(ref, context_card(note))

    lifecycle = LifecycleService(records, SqlConnectionStore(db), settings, SqlAuditLog(db), graph)
    notifications = pipeline.start(SqlOutbox(db), records, SqlConnectionStore(db), settings, connector,
                                   config.allowed_tenants, lifecycle, connector, poll=config.outbox_poll_seconds(),
                                   deliver=config.outbox_worker)
    # PostgreSQL: other replicas' commits reach this one at once (outbox work, saved settings).
    wakeups = PgWakeups(config.database_url, {SETTINGS_CHANNEL: stored.invalidate,
                                              **notifications.wake_handlers()}) if db.dialect == "postgresql" else None
    if wakeups:
        # A chat's cached connections are served only while this LISTEN is up (store/chat_cache.py).
        wakeups.payload_handlers[CONNECTIONS_CHANNEL] = listen_with(db, lambda: wakeups.listening)
        wakeups.payload_handlers.update(notifications.payload_handlers())
        await wakeups.start()
    background = Background()
    router = Router()
    commands.register(router, service, config.timeline_window)
    extension.register(router, service, connector, background)
    similar = SqlSimilarCases(db)
    await _index_local(records, similar, settings)
    collab = CollabService(service, graph, announce, SimilarContacts(similar, records))
    collab_commands.register(router, collab, connector, background)
    # With Dataverse the webhook reports the change `set` makes; the local source has no webhook.
    set_command.register(router, service, notifications.notifier,
                         submit_changes=config.source_kind is SourceKind.LOCAL)
    lifecycle_buttons.register(router, service, lifecycle)
    search = SearchService(service, SqlRecentRecords(db))
    search_extension.register(router, search, collab, config.public_url)
    chat_events.register(router, chat_events.ChatEvents(chats, SqlConnectionStore(db), connector, usable_graph,
                                                        membership))
    keys = None if config.local_mode else KeySet(session, config.openid_url, config.key_refetch_seconds)
    # The signing keys are fetched now, in the background: the first activity should not wait for them.
    warm_keys = asyncio.create_task(keys.start()) if keys is not None else None
    app[SESSION], app[DB], app[SERVICE], app[CONNECTOR], app[ROUTER] = session, db, service, connector, router
    bind_tabs(app, config, session, service, connector, graph, search)
    dataverse.bind(app, config, notifications, SimilarIntake(records, settings, similar))
    app[ADAPTER] = TeamsAdapter(router, connector, keys, config.app_id, config.token_issuer, config.allowed_tenants)
    if config.exposed_local_mode:
        log.warning("!!! LOCAL MODE ON %s:%s: MicrosoftAppId is empty, so activities are NOT authenticated, and "
                    "ALLOW_UNAUTHENTICATED_BIND=1 lets anyone who reaches %s:%s make this bot act and post wherever "
                    "an activity says. Only a trusted proxy may reach this port. !!!",
                    config.host, config.port, config.host, config.port)
    elif config.local_mode:
        log.warning("MicrosoftAppId is empty: local mode, incoming activities are NOT authenticated")
    if TELEMETRY in app:
        watch_outbox(SqlOutbox(db).depth)
        app[TELEMETRY].start_sampling()
    # Start-up leaves many long-lived objects (modules, templates, the directory); freezing them keeps the
    # collector from rescanning them under load (profiled: 55 ms pauses, 14 per 10 s at saturation).
    gc.collect()
    gc.freeze()
    yield
    if warm_keys is not None:
        warm_keys.cancel()
    checking.cancel()
    if registrations is not None:
        await registrations.close()
    if wakeups:
        await wakeups.close()
    await notifications.stop()
    await background.close()
    await graph.close()
    if close := getattr(records, "close", None):
        await close()
    if credential is not None:
        await credential.close()
    await session.close()
    await db.close()


async def _telemetry(app: web.Application) -> AsyncIterator[None]:
    config, observed = app[CONFIG], app[TELEMETRY]
    scrape = (await telemetry_endpoint.serve(observed, config.metrics_host, config.metrics_port)
              if config.metrics_port else None)
    yield
    if scrape is not None:
        await scrape.cleanup()
    await observed.close()


async def _index_local(records: RecordSource, similar: SqlSimilarCases, settings: SettingsStore) -> None:
    """The local directory's resolved cases go into the similarity index at start (Dataverse: store.reindex)."""
    if not getattr(records, "index_at_start", False):
        return
    current, _ = await settings.load()
    for name, rts in current.record_types.items():
        if rts.similar_contacts and rts.similar_fields:
            await backfill(records, similar, name, rts, restart=True)  # type: ignore[arg-type]


async def _startup_check(records: RecordSource) -> None:
    check = getattr(records, "startup_check", None)
    for problem in await check() if check else []:
        log.warning("record source: %s", problem)


async def messages(request: web.Request) -> web.Response:
    return await request.app[ADAPTER].handle(request)


async def healthz(request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def readyz(request: web.Request) -> web.Response:
    try:
        await request.app[DB].fetchrow("SELECT 1 AS ok")
    except Exception as exc:  # any driver error means "not ready", never a 500 page
        return web.json_response({"ready": False, "error": exc.__class__.__name__}, status=503)
    return web.json_response({"ready": True})


def create_app(config: Config) -> web.Application:
    # Before the Application is built: the aiohttp server instrumentation wraps the class.
    observed = telemetry_setup.start(config.telemetry)
    app = web.Application(client_max_size=1024 * 1024)
    app[CONFIG] = config
    if observed is not None:
        app[TELEMETRY] = observed
        app.cleanup_ctx.append(_telemetry)
        if config.metrics_token:
            app.router.add_get("/metrics", telemetry_endpoint.behind_token(observed, config.metrics_token))
    app.cleanup_ctx.append(_resources)
    app.router.add_post("/api/messages", messages)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    install_tabs(app)
    dataverse.install(app)
    return app


def main() -> None:
    try:
        config = Config.from_env()
    except ConfigError as exc:
        raise SystemExit(f"connected-chats cannot start: {exc}") from None
    telemetry_logs.configure(config.log_format)
    if problem := config.bind_problem():
        raise SystemExit(f"connected-chats refuses to start: {problem}.")
    print(f"connected-chats listening on http://{config.host}:{config.port} (bot endpoint /api/messages)",
          flush=True)
    web.run_app(create_app(config), host=config.host, port=config.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
