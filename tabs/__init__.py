"""The admin tab ("Teams collaboration and chat" settings), the agents' record view and the audit, with their
JSON API under /api/. `install(app)` adds the routes; `bind(...)` (from app.py's resources) hands over the
long-lived objects, since those only exist once the app starts."""
from __future__ import annotations

import aiohttp
from aiohttp import web

from config import Config
from domain.ports import ChatGateway
from domain.search import SearchService
from domain.service import ChatService
from tabs.context import TABS, TabsContext
from tabs.sso import Authenticator
from teams.connector import ConnectorClient

__all__ = ["TABS", "TabsContext", "bind", "install"]


def install(app: web.Application) -> None:
    from tabs import (
        audit_api,
        chat_tabs,
        grants_api,
        org_profiles_api,
        pages,
        people_api,
        records_api,
        registrations_api,
        settings_api,
        type_catalog,
    )

    for module in (settings_api, records_api, audit_api, pages, grants_api, registrations_api, type_catalog,
                   people_api, org_profiles_api, chat_tabs):
        module.routes(app)


def bind(app: web.Application, config: Config, session: aiohttp.ClientSession, service: ChatService,
         connector: ConnectorClient, gateway: ChatGateway | None = None, search: SearchService | None = None) -> None:
    """Settings saved here go through the bot's own SettingsStore instance, so the bot sees them at once."""
    app[TABS] = TabsContext(config, service, connector, Authenticator(config, session, service.records), gateway,
                              search)
