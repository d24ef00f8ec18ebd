"""The long-lived objects the tab endpoints use, stored on the aiohttp app under one typed key."""
from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from config import Config
from domain.ports import ChatGateway
from domain.search import SearchService
from domain.service import ChatService
from tabs.sso import Authenticator
from teams.connector import ConnectorClient


@dataclass
class TabsContext:
    config: Config
    service: ChatService
    connector: ConnectorClient
    auth: Authenticator
    # Graph, when wired: lets the record view check that the caller is in a chat before connecting it.
    gateway: ChatGateway | None = None
    search: SearchService | None = None  # "Find a record" in the chat and personal tabs


TABS = web.AppKey("tabs", TabsContext)
